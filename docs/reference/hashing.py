"""An independent implementation of docs/hashing.md, used to make the golden vectors that
crates/verify pins. Run: python3 docs/reference/hashing.py"""

import hashlib
import struct

DTYPE_CODES = {"f32": 1, "f64": 2, "i64": 3, "i32": 4, "i8": 5, "u8": 6, "bool": 7}
PACK = {"f32": "f", "f64": "d", "i64": "q", "i32": "i", "i8": "b", "u8": "B", "bool": "?"}


def encode_tensor_list(tensors):
    """tensors: list of (name, dtype, shape, values)."""
    out = struct.pack("<I", len(tensors))
    for name, dtype, shape, values in sorted(tensors, key=lambda t: t[0].encode()):
        raw_name = name.encode()
        data = struct.pack("<%d%s" % (len(values), PACK[dtype]), *values)
        out += struct.pack("<I", len(raw_name)) + raw_name
        out += bytes([DTYPE_CODES[dtype]]) + struct.pack("<I", len(shape))
        out += b"".join(struct.pack("<Q", d) for d in shape)
        out += struct.pack("<Q", len(data)) + data
    return out


def input_hash(tensors, nonce=None):
    if nonce is None:
        return hashlib.sha256(b"icinfer/v1/inputs\0" + encode_tensor_list(tensors)).hexdigest()
    prefix = b"icinfer/v1/inputs-salted\0" + bytes([len(nonce)]) + nonce
    return hashlib.sha256(prefix + encode_tensor_list(tensors)).hexdigest()


def output_hash(tensors):
    return hashlib.sha256(b"icinfer/v1/outputs\0" + encode_tensor_list(tensors)).hexdigest()


def leb128(n):
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        if n == 0:
            return bytes(out + bytes([byte]))
        out.append(byte | 0x80)


def head_commitment(size, root):
    """The certified data: the IC hash-tree root hash of
    fork(labeled "log_root" (leaf root), labeled "log_size" (leaf leb128(size)))."""

    def h(domain, *parts):
        return hashlib.sha256(bytes([len(domain)]) + domain + b"".join(parts)).digest()

    def labeled_leaf(label, value):
        return h(b"ic-hashtree-labeled", label, h(b"ic-hashtree-leaf", value))

    return h(
        b"ic-hashtree-fork",
        labeled_leaf(b"log_root", root),
        labeled_leaf(b"log_size", leb128(size)),
    ).hex()


if __name__ == "__main__":
    golden = [("b", "i64", [1, 2], [3, 4]), ("a", "f32", [3], [0.5, 0.25, -1.0])]
    print("inputs        ", input_hash(golden))
    print("inputs, salted", input_hash(golden, b"\x42" * 16))
    print("outputs       ", output_hash(golden))
    print("head(300, ab*32)", head_commitment(300, b"\xab" * 32))
    print("head(0, empty)  ", head_commitment(0, hashlib.sha256(b"").digest()))
