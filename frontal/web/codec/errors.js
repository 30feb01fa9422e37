// The errors the JavaScript codec raises (codec/errors.py, codec/stream.py).
//
// CodecError: a packet, payload or table the codec cannot accept (foreign, truncated, corrupt or
// mismatched). MissingReference (a CodecError): an inter frame whose reference chain is broken.
// MessageError: a data-channel message that does not parse (codec/messages.py's ValueError).
// A page catches these, drops the packet or message, counts it and carries on.

export class CodecError extends Error {
  constructor(message) {
    super(message);
    this.name = 'CodecError';
  }
}

export class MissingReference extends CodecError {
  constructor(message) {
    super(message);
    this.name = 'MissingReference';
  }
}

export class MessageError extends Error {
  constructor(message) {
    super(message);
    this.name = 'MessageError';
  }
}
