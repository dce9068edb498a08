pub const PROTOCOL_VERSION: u16 = 1;
