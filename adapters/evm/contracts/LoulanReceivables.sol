// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

// Receivables (invoices, claims) as ERC-721 tokens with a lock state.
//
// A receivable that backs something on another system (financing, a securitisation pool) must not
// move here meanwhile, so each token is Unlocked, Locked or Pooled and every transfer path checks
// that it is Unlocked. Issuing and every state change come from certified core-chain decisions,
// so they are callable by the gateway alone. Transitions: Unlocked → Locked (LOCK), Locked → Pooled
// (POOL), Locked or Pooled → Unlocked (UNLOCK); anything else is refused so that a stale decision
// cannot silently undo a newer one.
//
// Written out rather than imported (no token library is a dependency); ERC-165 and the ERC-721
// core interface, with the receiver check on the safe transfers.
interface IERC721Receiver {
    function onERC721Received(address operator, address from, uint256 tokenId, bytes calldata data)
        external
        returns (bytes4);
}

contract LoulanReceivables {
    uint8 public constant UNLOCKED = 0;
    uint8 public constant LOCKED = 1;
    uint8 public constant POOLED = 2;

    string public name;
    string public symbol;
    /// The only account allowed to issue tokens and change lock states.
    address public immutable gateway;

    mapping(uint256 => address) private owners;
    mapping(address => uint256) private balances;
    mapping(uint256 => address) private approvals;
    mapping(address => mapping(address => bool)) private operators;
    mapping(uint256 => uint8) private states;

    event Transfer(address indexed from, address indexed to, uint256 indexed tokenId);
    event Approval(address indexed owner, address indexed approved, uint256 indexed tokenId);
    event ApprovalForAll(address indexed owner, address indexed operator, bool approved);
    event LockStateChanged(uint256 indexed tokenId, uint8 from, uint8 to);

    error NotGateway(address caller);
    error TokenUnknown(uint256 tokenId);
    error TokenExists(uint256 tokenId);
    error TokenLocked(uint256 tokenId, uint8 state);
    error BadLockTransition(uint256 tokenId, uint8 from, uint8 to);
    error NotOwnerNorApproved(address caller, uint256 tokenId);
    error WrongOwner(address from, uint256 tokenId);
    error InvalidReceiver(address receiver);
    error InvalidOwner(address owner);

    modifier onlyGateway() {
        if (msg.sender != gateway) revert NotGateway(msg.sender);
        _;
    }

    constructor(string memory name_, string memory symbol_, address gateway_) {
        name = name_;
        symbol = symbol_;
        gateway = gateway_;
    }

    // ---------------------------------------------------------------- ERC-165

    function supportsInterface(bytes4 id) external pure returns (bool) {
        return id == 0x01ffc9a7 /* ERC-165 */ || id == 0x80ac58cd; /* ERC-721 */
    }

    // ---------------------------------------------------------------- ERC-721

    function balanceOf(address owner) external view returns (uint256) {
        if (owner == address(0)) revert InvalidOwner(owner);
        return balances[owner];
    }

    function ownerOf(uint256 tokenId) public view returns (address owner) {
        owner = owners[tokenId];
        if (owner == address(0)) revert TokenUnknown(tokenId);
    }

    function approve(address to, uint256 tokenId) external {
        address owner = ownerOf(tokenId);
        if (msg.sender != owner && !operators[owner][msg.sender]) revert NotOwnerNorApproved(msg.sender, tokenId);
        approvals[tokenId] = to;
        emit Approval(owner, to, tokenId);
    }

    function getApproved(uint256 tokenId) external view returns (address) {
        ownerOf(tokenId);
        return approvals[tokenId];
    }

    function setApprovalForAll(address operator, bool approved) external {
        operators[msg.sender][operator] = approved;
        emit ApprovalForAll(msg.sender, operator, approved);
    }

    function isApprovedForAll(address owner, address operator) external view returns (bool) {
        return operators[owner][operator];
    }

    function transferFrom(address from, address to, uint256 tokenId) public {
        address owner = ownerOf(tokenId);
        if (owner != from) revert WrongOwner(from, tokenId);
        if (msg.sender != owner && approvals[tokenId] != msg.sender && !operators[owner][msg.sender]) {
            revert NotOwnerNorApproved(msg.sender, tokenId);
        }
        if (to == address(0)) revert InvalidReceiver(to);
        uint8 state = states[tokenId];
        if (state != UNLOCKED) revert TokenLocked(tokenId, state);
        delete approvals[tokenId];
        unchecked {
            balances[from] -= 1;
            balances[to] += 1;
        }
        owners[tokenId] = to;
        emit Transfer(from, to, tokenId);
    }

    function safeTransferFrom(address from, address to, uint256 tokenId) external {
        safeTransferFrom(from, to, tokenId, "");
    }

    function safeTransferFrom(address from, address to, uint256 tokenId, bytes memory data) public {
        transferFrom(from, to, tokenId);
        checkReceiver(from, to, tokenId, data);
    }

    // ---------------------------------------------------------------- lock state

    function lockState(uint256 tokenId) external view returns (uint8) {
        ownerOf(tokenId);
        return states[tokenId];
    }

    // ------------------------------------------------ certified decisions only

    function mint(address to, uint256 tokenId) external onlyGateway {
        if (to == address(0)) revert InvalidReceiver(to);
        if (owners[tokenId] != address(0)) revert TokenExists(tokenId);
        owners[tokenId] = to;
        unchecked {
            balances[to] += 1;
        }
        emit Transfer(address(0), to, tokenId);
    }

    function lock(uint256 tokenId) external onlyGateway {
        transition(tokenId, UNLOCKED, UNLOCKED, LOCKED);
    }

    function pool(uint256 tokenId) external onlyGateway {
        transition(tokenId, LOCKED, LOCKED, POOLED);
    }

    function unlock(uint256 tokenId) external onlyGateway {
        transition(tokenId, LOCKED, POOLED, UNLOCKED);
    }

    // ---------------------------------------------------------------- private

    /// Moves `tokenId` to state `to` if it is now in `fromA` or `fromB`.
    function transition(uint256 tokenId, uint8 fromA, uint8 fromB, uint8 to) private {
        ownerOf(tokenId);
        uint8 state = states[tokenId];
        if (state != fromA && state != fromB) revert BadLockTransition(tokenId, state, to);
        states[tokenId] = to;
        emit LockStateChanged(tokenId, state, to);
    }

    function checkReceiver(address from, address to, uint256 tokenId, bytes memory data) private {
        if (to.code.length == 0) return;
        try IERC721Receiver(to).onERC721Received(msg.sender, from, tokenId, data) returns (bytes4 answer) {
            if (answer != IERC721Receiver.onERC721Received.selector) revert InvalidReceiver(to);
        } catch {
            revert InvalidReceiver(to);
        }
    }
}
