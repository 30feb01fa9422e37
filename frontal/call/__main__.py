from frontal.call.cli import main

raise SystemExit(main())
