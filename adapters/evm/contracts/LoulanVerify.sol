// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

// The core-chain verifier rule (core-chain/verify, pinned by test/vectors/loulan) in Solidity.
//
// One internal library shared by the gateway and the stateless LoulanVerifier, so the code the
// shared vectors exercise is the code that guards value. The checks run in the same order as the
// TypeScript verifier and each failure is a custom error that maps 1:1 to a Loulan error code
// (adapters/evm/codec.ts keeps the table), so one bad certificate reports the same code everywhere.
//
// Gas shapes the code: headers, events and paths stay in calldata and are read with calldataload at
// the fixed header offsets; SHA-256 runs on the precompile over scratch memory that is never
// allocated; validator keys arrive uncompressed (x ‖ y) so no EC decompression is needed, and are
// checked to be on the curve before their compressed form enters the set hash.

/// A commit signature: `from` indexes the validator set, `sig` is r ‖ s ‖ v with v in {0, 1}.
struct Signature {
    uint256 from;
    bytes sig;
}

/// A commit certificate: 2f+1-ish signatures over the commit bytes of (height, view, digest).
struct Certificate {
    uint64 height;
    uint64 viewNumber;
    bytes32 digest;
    Signature[] sigs;
}

/// One step of a header chain; `nextSetKeys` (64-byte x ‖ y keys, packed) is empty when not carried.
struct ChainItem {
    bytes header;
    Certificate certificate;
    bytes nextSetKeys;
}

error CodecTruncated(uint256 length);
error CodecTrailingBytes(uint256 length);
error CodecTag(uint8 version);
error CertWrongChain(bytes32 expected, bytes32 actual);
error CertWrongValidatorSet(bytes32 expected, bytes32 actual);
error CertWrongBlock(string field);
error CertTooFewSigners(uint256 have, uint256 need);
error CertSignersUnsorted(uint256 signer, uint256 previous);
error CertNonMember(uint256 signer);
error CryptoMalformedSignature(uint256 signer, string reason);
error CertBadSignature(uint256 signer);
error HeaderChainGap(uint64 expected, uint64 actual);
error HeaderChainBroken(uint64 height);
error ValsetMismatch(uint64 height);
error ValsetInvalid(string field, uint256 index);
error ProofZeroRoot();
error MerkleIndexRange(uint256 index, uint256 treeSize);
error MerkleBadProof(string reason);

library LoulanVerify {
    uint256 internal constant HEADER_LENGTH = 253;
    uint256 internal constant MAX_VALIDATORS = 1024;

    // Header field offsets (core-chain/ledger/block.ts).
    uint256 private constant AT_CHAIN_ID = 1;
    uint256 private constant AT_HEIGHT = 33;
    uint256 private constant AT_PREV_HASH = 41;
    uint256 private constant AT_TIME = 73;
    uint256 private constant AT_EVENTS_ROOT = 121;
    uint256 private constant AT_EVENT_COUNT = 153;
    uint256 private constant AT_SET_HASH = 189;
    uint256 private constant AT_NEXT_SET_HASH = 221;

    /// secp256k1 group order and field prime.
    uint256 private constant N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;
    uint256 private constant HALF_N = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0;
    uint256 private constant P = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFC2F;

    // ---------------------------------------------------------------- header

    /// Strict decode: exactly 253 bytes, version 1. Fields are then read in place.
    function checkHeader(bytes calldata h) internal pure {
        if (h.length < HEADER_LENGTH) revert CodecTruncated(h.length);
        if (h.length > HEADER_LENGTH) revert CodecTrailingBytes(h.length);
        if (uint8(h[0]) != 1) revert CodecTag(uint8(h[0]));
    }

    function chainIdOf(bytes calldata h) internal pure returns (bytes32) {
        return word(h, AT_CHAIN_ID);
    }

    function heightOf(bytes calldata h) internal pure returns (uint64) {
        return uint64(uint256(word(h, AT_HEIGHT)) >> 192);
    }

    function prevHashOf(bytes calldata h) internal pure returns (bytes32) {
        return word(h, AT_PREV_HASH);
    }

    function timeOf(bytes calldata h) internal pure returns (uint64) {
        return uint64(uint256(word(h, AT_TIME)) >> 192);
    }

    function setHashOf(bytes calldata h) internal pure returns (bytes32) {
        return word(h, AT_SET_HASH);
    }

    function nextSetHashOf(bytes calldata h) internal pure returns (bytes32) {
        return word(h, AT_NEXT_SET_HASH);
    }

    function word(bytes calldata b, uint256 at) private pure returns (bytes32 w) {
        assembly ("memory-safe") {
            w := calldataload(add(b.offset, at))
        }
    }

    /// SHA-256 of calldata bytes, through scratch memory past the free pointer (never allocated).
    function sha256Calldata(bytes calldata b) internal view returns (bytes32 h) {
        assembly ("memory-safe") {
            let p := mload(0x40)
            calldatacopy(p, b.offset, b.length)
            if iszero(staticcall(gas(), 2, p, b.length, 0x00, 0x20)) { revert(0, 0) }
            h := mload(0x00)
        }
    }

    // ----------------------------------------------------------- certificate

    /// Quorum q = ceil((n + f + 1) / 2) with f = floor((n - 1) / 3).
    function quorum(uint256 n) internal pure returns (uint256) {
        uint256 f = (n - 1) / 3;
        return (n + f + 2) / 2;
    }

    /// Checks 2..7 of core-chain/verify/certificate.ts for a header already checked by checkHeader
    /// whose bytes hash to `blockHash`, against the trusted (chainId, setHash, members).
    function checkCertified(
        bytes32 chainId,
        bytes32 setHash,
        address[] memory members,
        bytes calldata header,
        bytes32 blockHash,
        Certificate calldata cert
    ) internal view {
        if (chainIdOf(header) != chainId) revert CertWrongChain(chainId, chainIdOf(header));
        if (setHashOf(header) != setHash) revert CertWrongValidatorSet(setHash, setHashOf(header));
        if (cert.height != heightOf(header)) revert CertWrongBlock("height");
        if (cert.digest != blockHash) revert CertWrongBlock("digest");

        uint256 n = members.length;
        Signature[] calldata sigs = cert.sigs;
        uint256 count = sigs.length;
        uint256 need = quorum(n);
        if (count < need) revert CertTooFewSigners(count, need);
        uint256 previous;
        for (uint256 i; i < count; ++i) {
            uint256 from = sigs[i].from;
            if (i != 0 && from <= previous) revert CertSignersUnsorted(from, previous);
            if (from >= n) revert CertNonMember(from);
            previous = from;
        }

        bytes32 digest = commitDigest(chainId, setHash, cert.height, cert.viewNumber, blockHash);
        for (uint256 i; i < count; ++i) {
            uint256 from = sigs[i].from;
            address signer = recover(digest, sigs[i].sig, from);
            if (signer == address(0) || signer != members[from]) revert CertBadSignature(from);
        }
    }

    /// SHA-256("LOULAN/COMMIT/V1" ‖ chainId ‖ setHash ‖ height u64 ‖ view u64 ‖ blockHash).
    function commitDigest(bytes32 chainId, bytes32 setHash, uint64 height, uint64 view_, bytes32 blockHash)
        internal
        view
        returns (bytes32 d)
    {
        assembly ("memory-safe") {
            let p := mload(0x40)
            mstore(p, "LOULAN/COMMIT/V1")
            mstore(add(p, 16), chainId)
            mstore(add(p, 48), setHash)
            mstore(add(p, 80), shl(192, height))
            mstore(add(p, 88), shl(192, view_))
            mstore(add(p, 96), blockHash)
            if iszero(staticcall(gas(), 2, p, 128, 0x00, 0x20)) { revert(0, 0) }
            d := mload(0x00)
        }
    }

    /// Structural checks in the vectors' order, then ecrecover (zero when no key is recoverable).
    function recover(bytes32 digest, bytes calldata sig, uint256 from) private pure returns (address) {
        if (sig.length != 65) revert CryptoMalformedSignature(from, "length");
        uint8 v = uint8(sig[64]);
        if (v > 1) revert CryptoMalformedSignature(from, "recovery-id");
        uint256 r = uint256(bytes32(sig[0:32]));
        uint256 s = uint256(bytes32(sig[32:64]));
        if (r == 0 || r >= N) revert CryptoMalformedSignature(from, "r-range");
        if (s == 0 || s >= N) revert CryptoMalformedSignature(from, "s-range");
        if (s > HALF_N) revert CryptoMalformedSignature(from, "high-s");
        return ecrecover(digest, v + 27, bytes32(r), bytes32(s));
    }

    // --------------------------------------------------------- validator set

    /// A set from packed 64-byte uncompressed keys (x ‖ y, index order): its Loulan hash over the
    /// compressed forms, and its members' addresses. `ok` is false (with the failing field) for an
    /// empty or oversized list, a key off the curve, or a key listed twice.
    function prepareSet(bytes memory keys)
        internal
        view
        returns (bool ok, bytes32 setHash, address[] memory members, string memory field, uint256 index)
    {
        uint256 n = keys.length / 64;
        if (keys.length % 64 != 0 || n == 0 || n > MAX_VALIDATORS) return (false, 0, members, "publicKeys", n);
        members = new address[](n);
        uint256 size = 20 + 33 * n;
        bytes memory buf = new bytes(size);
        assembly ("memory-safe") {
            mstore(add(buf, 32), "LOULAN/VALSET/V1")
            mstore(add(buf, 48), shl(224, n))
        }
        for (uint256 i; i < n; ++i) {
            uint256 x;
            uint256 y;
            address a;
            assembly ("memory-safe") {
                let k := add(add(keys, 32), mul(i, 64))
                x := mload(k)
                y := mload(add(k, 32))
                a := and(keccak256(k, 64), 0xffffffffffffffffffffffffffffffffffffffff)
            }
            if (x >= P || y >= P || mulmod(y, y, P) != addmod(mulmod(mulmod(x, x, P), x, P), 7, P)) {
                return (false, 0, members, "publicKeys", i);
            }
            for (uint256 j; j < i; ++j) {
                if (members[j] == a) return (false, 0, members, "publicKeys", i);
            }
            members[i] = a;
            assembly ("memory-safe") {
                let at := add(add(buf, 52), mul(i, 33))
                mstore8(at, or(2, and(y, 1)))
                mstore(add(at, 1), x)
            }
        }
        // The last key's x ends exactly at the buffer's end, so no write went past `size`.
        setHash = sha256(buf);
        ok = true;
    }

    /// prepareSet for a set the caller trusts: anything malformed reverts ValsetInvalid.
    function trustedSet(bytes memory keys) internal view returns (bytes32 setHash, address[] memory members) {
        bool ok;
        string memory field;
        uint256 index;
        (ok, setHash, members, field, index) = prepareSet(keys);
        if (!ok) revert ValsetInvalid(field, index);
    }

    /// The set a header announces, carried as `keys`: it must be well formed and hash to the
    /// header's nextValidatorSetHash (ValsetMismatch otherwise).
    function announcedSet(bytes calldata header, bytes memory keys)
        internal
        view
        returns (bytes32 setHash, address[] memory members)
    {
        bool ok;
        (ok, setHash, members,,) = prepareSet(keys);
        if (!ok || setHash != nextSetHashOf(header)) revert ValsetMismatch(heightOf(header));
    }

    // ----------------------------------------------------------- event proof

    /// `eventData` is leaf `index` of the header's eventsRoot (RFC 6962 / 9162 over SHA-256).
    /// `path` is the audit path packed as 32-byte hashes, leaf side first; a length that is not a
    /// multiple of 32 means some element is not a hash ("hash-length").
    function checkEventProof(bytes calldata header, bytes calldata eventData, uint256 index, bytes calldata path)
        internal
        view
    {
        bytes32 root = word(header, AT_EVENTS_ROOT);
        if (root == bytes32(0)) revert ProofZeroRoot();
        uint256 size = uint32(uint256(word(header, AT_EVENT_COUNT)) >> 224);
        if (index >= size) revert MerkleIndexRange(index, size);
        if (path.length % 32 != 0) revert MerkleBadProof("hash-length");

        uint256 count = path.length / 32;
        uint256 fn = index;
        uint256 sn = size - 1;
        uint256 k;
        // Length first, so that a wrong-length path reports "length" whatever its hashes are.
        while (sn != 0) {
            if (fn & 1 == 1 || fn != sn) ++k;
            fn >>= 1;
            sn >>= 1;
        }
        if (k != count) revert MerkleBadProof("length");

        // RFC 9162 §2.1.3.2, one path hash per step.
        bytes32 r = leafHash(eventData);
        fn = index;
        sn = size - 1;
        for (k = 0; k < count; ++k) {
            bytes32 p = word(path, k * 32);
            if (fn & 1 == 1 || fn == sn) {
                r = nodeHash(p, r);
                while (fn & 1 == 0 && fn != 0) {
                    fn >>= 1;
                    sn >>= 1;
                }
            } else {
                r = nodeHash(r, p);
            }
            fn >>= 1;
            sn >>= 1;
        }
        if (r != root) revert MerkleBadProof("root");
    }

    function leafHash(bytes calldata data) private view returns (bytes32 h) {
        assembly ("memory-safe") {
            let p := mload(0x40)
            mstore8(p, 0)
            calldatacopy(add(p, 1), data.offset, data.length)
            if iszero(staticcall(gas(), 2, p, add(data.length, 1), 0x00, 0x20)) { revert(0, 0) }
            h := mload(0x00)
        }
    }

    function nodeHash(bytes32 left, bytes32 right) private view returns (bytes32 h) {
        assembly ("memory-safe") {
            let p := mload(0x40)
            mstore8(p, 1)
            mstore(add(p, 1), left)
            mstore(add(p, 33), right)
            if iszero(staticcall(gas(), 2, p, 65, 0x00, 0x20)) { revert(0, 0) }
            h := mload(0x00)
        }
    }
}
