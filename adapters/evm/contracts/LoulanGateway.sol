// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {
    LoulanVerify,
    Certificate,
    CertWrongChain,
    CertWrongValidatorSet,
    ValsetMismatch
} from "./LoulanVerify.sol";
import {LoulanPoints} from "./LoulanPoints.sol";
import {LoulanReceivables} from "./LoulanReceivables.sol";

/// A certified core-chain event: the header, its commit certificate, the members' addresses of the
/// set the header names (index order), and the event with its Merkle path (packed 32-byte hashes).
struct EventProof {
    bytes header;
    Certificate certificate;
    address[] members;
    bytes eventData;
    uint256 index;
    bytes path;
}

/// Names of the two token contracts the gateway creates.
struct TokenConfig {
    string pointsName;
    string pointsSymbol;
    uint8 pointsDecimals;
    string receivablesName;
    string receivablesSymbol;
}

error DecisionMalformed(string field);
error DecisionWrongEvent();
error DecisionWrongTarget(bytes32 expected, bytes32 actual);
error DecisionConsumed(bytes32 decisionId);
error DecisionExpired(uint64 deadline, uint64 time);
error DecisionArgs(string field);
error ValsetMembersMismatch();
error ValsetStale(uint64 height, uint64 current);

// The gateway: the only door through which the core chain moves value on this EVM chain.
//
// Trust: the core chain's chainId and this system's id (SHA-256 of its Loulan address) are fixed at
// deployment; the validator set starts as the deployer's and from then on changes only by a header
// the current set certified that announces the next set (nextValidatorSetHash), with the next keys
// hashing to it. Only a commitment to the set is stored, keccak256(setHash ‖ members): callers pass
// the member addresses in calldata, which costs far less than reading them from storage.
//
// Authority: there is no owner and no admin function. The gateway creates its two token contracts
// in its constructor (so they can name no other gateway), and the only state-changing entry points
// are `execute` (a certified decision, each id once) and `changeValidatorSet`. A decision selects one
// of a fixed list of token functions by its action code; nothing in a relayed message is ever used as
// a call target or as calldata, so no message can reach anything privileged.
contract LoulanGateway {
    uint8 internal constant MINT = 1;
    uint8 internal constant BURN = 2;
    uint8 internal constant RELEASE = 3;
    uint8 internal constant REFUND = 4;
    uint8 internal constant LOCK = 5;
    uint8 internal constant UNLOCK = 6;
    uint8 internal constant POOL = 7;

    /// u8 version 1 ‖ u32 4 ‖ "xfer" ‖ u32 8 ‖ "decision": how every decision event starts.
    bytes21 private constant DECISION_EVENT_PREFIX = 0x010000000478666572000000086465636973696f6e;

    bytes32 public immutable chainId;
    bytes32 public immutable systemId;
    LoulanPoints public immutable points;
    LoulanReceivables public immutable receivables;

    /// Hash of the trusted validator set (core-chain rule) and keccak256(abi.encodePacked(hash, members)).
    bytes32 public validatorSetHash;
    bytes32 public setCommitment;
    /// Height of the header that announced the current set (the deployment's choice for the first).
    uint64 public setHeight;
    mapping(bytes32 => bool) public consumed;

    event DecisionExecuted(bytes32 indexed decisionId, uint8 indexed action, uint64 height, bytes32 blockHash);
    event ValidatorSetChanged(bytes32 indexed setHash, uint64 height, address[] members);

    /// `setKeys`: the trusted set's keys, 64-byte x ‖ y each, packed in index order; `setHeight_`:
    /// the height from which that set is trusted (0 for the genesis set).
    constructor(bytes32 chainId_, bytes32 systemId_, bytes memory setKeys, uint64 setHeight_, TokenConfig memory tokens) {
        chainId = chainId_;
        systemId = systemId_;
        (bytes32 setHash, address[] memory members) = LoulanVerify.trustedSet(setKeys);
        trust(setHash, members, setHeight_);
        points = new LoulanPoints(tokens.pointsName, tokens.pointsSymbol, tokens.pointsDecimals, address(this));
        receivables = new LoulanReceivables(tokens.receivablesName, tokens.receivablesSymbol, address(this));
    }

    /// Verifies a header and its certificate against the trusted set; returns the block hash.
    function verifyHeader(bytes calldata header, Certificate calldata cert, address[] calldata members)
        external
        view
        returns (bytes32 blockHash)
    {
        return verifyTrusted(header, cert, members);
    }

    /// Verifies a certified event against the trusted set without executing anything; returns the
    /// block hash. Relayers use it to check before paying; the gas benchmark measures it.
    function verifyEvent(EventProof calldata p) external view returns (bytes32 blockHash) {
        blockHash = verifyTrusted(p.header, p.certificate, p.members);
        LoulanVerify.checkEventProof(p.header, p.eventData, p.index, p.path);
    }

    /// Executes a certified decision exactly once. Checks, in order: the certificate against the
    /// trusted set; the event's Merkle path; contract "xfer" and type "decision"; the envelope;
    /// target = systemId; not consumed; deadline >= header time. Then runs the action.
    function execute(EventProof calldata p) external returns (bytes32 decisionId) {
        bytes32 blockHash = verifyTrusted(p.header, p.certificate, p.members);
        LoulanVerify.checkEventProof(p.header, p.eventData, p.index, p.path);
        (bytes32 id, bytes32 target, uint8 action, uint64 deadline, bytes calldata args) = decodeDecision(p.eventData);
        if (target != systemId) revert DecisionWrongTarget(systemId, target);
        if (consumed[id]) revert DecisionConsumed(id);
        uint64 time = LoulanVerify.timeOf(p.header);
        if (deadline < time) revert DecisionExpired(deadline, time);
        consumed[id] = true;
        dispatch(action, args);
        emit DecisionExecuted(id, action, LoulanVerify.heightOf(p.header), blockHash);
        return id;
    }

    /// Moves trust to the set announced by `header`: it must be certified by the current set, be
    /// above the current set's height, announce a different next set, and `nextKeys` (64-byte x ‖ y,
    /// packed, index order) must hash to its nextValidatorSetHash.
    function changeValidatorSet(
        bytes calldata header,
        Certificate calldata cert,
        address[] calldata members,
        bytes calldata nextKeys
    ) external {
        verifyTrusted(header, cert, members);
        uint64 height = LoulanVerify.heightOf(header);
        if (height <= setHeight) revert ValsetStale(height, setHeight);
        if (LoulanVerify.nextSetHashOf(header) == LoulanVerify.setHashOf(header)) revert ValsetMismatch(height);
        (bytes32 setHash, address[] memory next) = LoulanVerify.announcedSet(header, nextKeys);
        trust(setHash, next, height);
    }

    // ---------------------------------------------------------------- private

    function trust(bytes32 setHash, address[] memory members, uint64 height) private {
        validatorSetHash = setHash;
        setCommitment = keccak256(abi.encodePacked(setHash, members));
        setHeight = height;
        emit ValidatorSetChanged(setHash, height, members);
    }

    function verifyTrusted(bytes calldata header, Certificate calldata cert, address[] calldata members)
        private
        view
        returns (bytes32 blockHash)
    {
        LoulanVerify.checkHeader(header);
        bytes32 headerChain = LoulanVerify.chainIdOf(header);
        if (headerChain != chainId) revert CertWrongChain(chainId, headerChain);
        bytes32 setHash = LoulanVerify.setHashOf(header);
        if (keccak256(abi.encodePacked(setHash, members)) != setCommitment) {
            bytes32 trusted = validatorSetHash;
            if (setHash != trusted) revert CertWrongValidatorSet(trusted, setHash);
            revert ValsetMembersMismatch();
        }
        blockHash = LoulanVerify.sha256Calldata(header);
        LoulanVerify.checkCertified(chainId, setHash, members, header, blockHash, cert);
    }

    /// The event must start with the decision prefix; its data is the canonical ABI envelope
    /// (uint8 version, bytes32 decisionId, bytes32 target, uint8 action, uint64 deadline, bytes args).
    function decodeDecision(bytes calldata ev)
        private
        pure
        returns (bytes32 id, bytes32 target, uint8 action, uint64 deadline, bytes calldata args)
    {
        if (ev.length < 21 || bytes21(ev[0:21]) != DECISION_EVENT_PREFIX) revert DecisionWrongEvent();
        if (ev.length < 29 || 29 + (uint256(uint32(bytes4(ev[25:29])))) != ev.length) revert DecisionMalformed("event");
        bytes calldata data = ev[29:];
        if (data.length < 224) revert DecisionMalformed("data");
        if (uint256(bytes32(data[0:32])) != 1) revert DecisionMalformed("version");
        id = bytes32(data[32:64]);
        target = bytes32(data[64:96]);
        uint256 a = uint256(bytes32(data[96:128]));
        if (a == 0 || a > POOL) revert DecisionMalformed("action");
        uint256 d = uint256(bytes32(data[128:160]));
        if (d > type(uint64).max) revert DecisionMalformed("deadline");
        if (uint256(bytes32(data[160:192])) != 0xc0) revert DecisionMalformed("data");
        uint256 len = uint256(bytes32(data[192:224]));
        if (len > data.length) revert DecisionMalformed("data");
        uint256 padded = (len + 31) & ~uint256(31);
        if (data.length != 224 + padded) revert DecisionMalformed("data");
        if (padded != len) {
            // Canonical encoding: the padding after args is zero.
            uint256 tail = uint256(bytes32(data[data.length - 32:]));
            if (tail << (8 * (32 - (padded - len))) != 0) revert DecisionMalformed("data");
        }
        args = data[224:224 + len];
        action = uint8(a);
        deadline = uint64(d);
    }

    /// Args per action (docs/decisions.md, EVM section): MINT (address token, address to, uint256
    /// amountOrTokenId); BURN, REFUND (bytes32 holdId); RELEASE (bytes32 holdId, address to);
    /// LOCK, UNLOCK, POOL (uint256 tokenId).
    function dispatch(uint8 action, bytes calldata args) private {
        if (action == MINT) {
            if (args.length != 96) revert DecisionArgs("args");
            address token = addressAt(args, 0, "token");
            address to = addressAt(args, 32, "to");
            uint256 value = uint256(bytes32(args[64:96]));
            if (token == address(points)) points.mint(to, value);
            else if (token == address(receivables)) receivables.mint(to, value);
            else revert DecisionArgs("token");
        } else if (action == RELEASE) {
            if (args.length != 64) revert DecisionArgs("args");
            points.release(bytes32(args[0:32]), addressAt(args, 32, "to"));
        } else {
            if (args.length != 32) revert DecisionArgs("args");
            bytes32 w = bytes32(args[0:32]);
            if (action == BURN) points.burn(w);
            else if (action == REFUND) points.refund(w);
            else if (action == LOCK) receivables.lock(uint256(w));
            else if (action == UNLOCK) receivables.unlock(uint256(w));
            else receivables.pool(uint256(w));
        }
    }

    function addressAt(bytes calldata args, uint256 at, string memory field) private pure returns (address) {
        uint256 w = uint256(bytes32(args[at:at + 32]));
        if (w >> 160 != 0) revert DecisionArgs(field);
        return address(uint160(w));
    }
}
