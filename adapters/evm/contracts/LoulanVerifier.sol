// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {LoulanVerify, Certificate, ChainItem, HeaderChainGap, HeaderChainBroken} from "./LoulanVerify.sol";

// The core-chain verifier as stateless view functions: the same three checks the TypeScript
// verifier exports (verifyCommittedHeader, verifyHeaderChain, verifyEventProof), taking the trusted
// set as arguments. It holds no value and no state; it exists so that anyone (a relayer before
// paying gas, the shared vector suite) can run the exact library code the gateway runs, with eth_call.
contract LoulanVerifier {
    /// Checks `header` and its certificate against the trusted set (packed 64-byte x ‖ y keys in
    /// index order) of chain `chainId`; returns the block hash.
    function verifyHeader(bytes32 chainId, bytes calldata setKeys, bytes calldata header, Certificate calldata cert)
        external
        view
        returns (bytes32 blockHash)
    {
        (bytes32 setHash, address[] memory members) = LoulanVerify.trustedSet(setKeys);
        LoulanVerify.checkHeader(header);
        blockHash = LoulanVerify.sha256Calldata(header);
        LoulanVerify.checkCertified(chainId, setHash, members, header, blockHash, cert);
    }

    /// Follows consecutive headers from a trusted set, across validator-set changes. With a
    /// non-empty `afterHeader` (trusted, already verified) the first item must extend it. Returns
    /// the last header's height and hash and the hash of the set trusted for the height after it.
    function verifyHeaderChain(bytes32 chainId, bytes calldata setKeys, bytes calldata afterHeader, ChainItem[] calldata items)
        external
        view
        returns (uint64 height, bytes32 blockHash, bytes32 setHash)
    {
        Trust memory t;
        (t.setHash, t.members) = LoulanVerify.trustedSet(setKeys);
        if (afterHeader.length != 0) {
            LoulanVerify.checkHeader(afterHeader);
            t.linked = true;
            t.height = LoulanVerify.heightOf(afterHeader);
            t.blockHash = LoulanVerify.sha256Calldata(afterHeader);
        } else if (items.length == 0) {
            revert HeaderChainGap(0, 0);
        }
        for (uint256 i; i < items.length; ++i) step(chainId, t, items[i]);
        return (t.height, t.blockHash, t.setHash);
    }

    /// Where the walk stands: the set trusted for the next height and the last header.
    struct Trust {
        bytes32 setHash;
        address[] members;
        bool linked;
        uint64 height;
        bytes32 blockHash;
    }

    function step(bytes32 chainId, Trust memory t, ChainItem calldata item) private view {
        bytes calldata header = item.header;
        LoulanVerify.checkHeader(header);
        uint64 h = LoulanVerify.heightOf(header);
        if (t.linked) {
            if (h != t.height + 1) revert HeaderChainGap(t.height + 1, h);
            if (LoulanVerify.prevHashOf(header) != t.blockHash) revert HeaderChainBroken(h);
        }
        bytes32 hash = LoulanVerify.sha256Calldata(header);
        LoulanVerify.checkCertified(chainId, t.setHash, t.members, header, hash, item.certificate);
        if (LoulanVerify.nextSetHashOf(header) != LoulanVerify.setHashOf(header) || item.nextSetKeys.length != 0) {
            (t.setHash, t.members) = LoulanVerify.announcedSet(header, item.nextSetKeys);
        }
        t.linked = true;
        t.height = h;
        t.blockHash = hash;
    }

    /// Checks that `eventData` is event `index` of the block `header` commits to. The header must
    /// have been verified (verifyHeader) by the caller; only its eventsRoot and eventCount are used.
    function verifyEventProof(bytes calldata header, bytes calldata eventData, uint256 index, bytes calldata path)
        external
        view
    {
        LoulanVerify.checkHeader(header);
        LoulanVerify.checkEventProof(header, eventData, index, path);
    }
}
