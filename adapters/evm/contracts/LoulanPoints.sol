// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

// Loyalty points on an EVM chain: a plain ERC-20 plus escrow holds.
//
// Value only moves across systems on certified core-chain decisions, so the supply side (mint, burn)
// and the settlement of holds (release, refund) are callable by the gateway alone, and the gateway
// calls them only after verifying a decision. The one thing a holder does on their own is `hold`:
// moving their points into escrow under a reference the core chain's transfer names. The hold id is
// derived from (holder, ref), so the core chain knows it without reading EVM state, and a second
// hold for the same transfer is refused. Escrowed points sit in this contract's own balance, so
// ERC-20 accounting (sum of balances = totalSupply) always holds.
//
// Written out rather than imported: no token library is a dependency, and the contract is small.
contract LoulanPoints {
    /// Hold lifecycle: Open until exactly one certified decision settles it.
    uint8 public constant HOLD_OPEN = 1;
    uint8 public constant HOLD_RELEASED = 2;
    uint8 public constant HOLD_REFUNDED = 3;
    uint8 public constant HOLD_BURNED = 4;

    struct Hold {
        address holder;
        uint8 state;
        uint256 amount;
    }

    string public name;
    string public symbol;
    uint8 public immutable decimals;
    /// The only account allowed to mint, burn and settle holds.
    address public immutable gateway;
    uint256 public totalSupply;

    mapping(address => uint256) public balanceOf;
    mapping(address => mapping(address => uint256)) public allowance;
    mapping(bytes32 => Hold) private holds;

    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);
    event Held(bytes32 indexed holdId, address indexed holder, uint256 amount, bytes32 ref);
    event HoldReleased(bytes32 indexed holdId, address indexed to, uint256 amount);
    event HoldRefunded(bytes32 indexed holdId, address indexed holder, uint256 amount);
    event HoldBurned(bytes32 indexed holdId, uint256 amount);

    error NotGateway(address caller);
    error InsufficientBalance(address account, uint256 balance, uint256 needed);
    error InsufficientAllowance(address spender, uint256 allowance, uint256 needed);
    error InvalidReceiver(address receiver);
    error InvalidAmount();
    error HoldExists(bytes32 holdId);
    error HoldUnknown(bytes32 holdId);
    error HoldSettled(bytes32 holdId, uint8 state);

    modifier onlyGateway() {
        if (msg.sender != gateway) revert NotGateway(msg.sender);
        _;
    }

    constructor(string memory name_, string memory symbol_, uint8 decimals_, address gateway_) {
        name = name_;
        symbol = symbol_;
        decimals = decimals_;
        gateway = gateway_;
    }

    // ---------------------------------------------------------------- ERC-20

    function transfer(address to, uint256 value) external returns (bool) {
        move(msg.sender, to, value);
        return true;
    }

    function approve(address spender, uint256 value) external returns (bool) {
        allowance[msg.sender][spender] = value;
        emit Approval(msg.sender, spender, value);
        return true;
    }

    /// An allowance of type(uint256).max is never decreased (the common "infinite approval").
    function transferFrom(address from, address to, uint256 value) external returns (bool) {
        uint256 allowed = allowance[from][msg.sender];
        if (allowed != type(uint256).max) {
            if (allowed < value) revert InsufficientAllowance(msg.sender, allowed, value);
            unchecked {
                allowance[from][msg.sender] = allowed - value;
            }
        }
        move(from, to, value);
        return true;
    }

    // ------------------------------------------------------------------ holds

    /// Moves `amount` of the caller's points into escrow under `ref`; returns the hold id,
    /// keccak256(abi.encode(holder, ref)).
    function hold(uint256 amount, bytes32 ref) external returns (bytes32 holdId) {
        if (amount == 0) revert InvalidAmount();
        holdId = holdIdOf(msg.sender, ref);
        if (holds[holdId].state != 0) revert HoldExists(holdId);
        holds[holdId] = Hold({holder: msg.sender, state: HOLD_OPEN, amount: amount});
        debit(msg.sender, amount);
        balanceOf[address(this)] += amount;
        emit Transfer(msg.sender, address(this), amount);
        emit Held(holdId, msg.sender, amount, ref);
    }

    function holdIdOf(address holder, bytes32 ref) public pure returns (bytes32) {
        return keccak256(abi.encode(holder, ref));
    }

    function holdOf(bytes32 holdId) external view returns (address holder, uint8 state, uint256 amount) {
        Hold storage h = holds[holdId];
        return (h.holder, h.state, h.amount);
    }

    // ------------------------------------------------ certified decisions only

    function mint(address to, uint256 amount) external onlyGateway {
        if (to == address(0) || to == address(this)) revert InvalidReceiver(to);
        totalSupply += amount;
        balanceOf[to] += amount;
        emit Transfer(address(0), to, amount);
    }

    /// Pays an open hold out to `to` (the other side of a committed exchange).
    function release(bytes32 holdId, address to) external onlyGateway {
        if (to == address(0) || to == address(this)) revert InvalidReceiver(to);
        uint256 amount = settle(holdId, HOLD_RELEASED);
        move(address(this), to, amount);
        emit HoldReleased(holdId, to, amount);
    }

    /// Returns an open hold to its holder (an aborted transfer).
    function refund(bytes32 holdId) external onlyGateway {
        address holder = holds[holdId].holder;
        uint256 amount = settle(holdId, HOLD_REFUNDED);
        move(address(this), holder, amount);
        emit HoldRefunded(holdId, holder, amount);
    }

    /// Destroys an open hold (the points left this chain for another system).
    function burn(bytes32 holdId) external onlyGateway {
        uint256 amount = settle(holdId, HOLD_BURNED);
        debit(address(this), amount);
        totalSupply -= amount;
        emit Transfer(address(this), address(0), amount);
        emit HoldBurned(holdId, amount);
    }

    // ---------------------------------------------------------------- private

    function settle(bytes32 holdId, uint8 to) private returns (uint256 amount) {
        Hold storage h = holds[holdId];
        if (h.state == 0) revert HoldUnknown(holdId);
        if (h.state != HOLD_OPEN) revert HoldSettled(holdId, h.state);
        h.state = to;
        return h.amount;
    }

    function move(address from, address to, uint256 value) private {
        // Escrow is only entered through hold(): a plain transfer into it would be unaccounted.
        if (to == address(0) || (to == address(this) && from != address(this))) revert InvalidReceiver(to);
        debit(from, value);
        balanceOf[to] += value;
        emit Transfer(from, to, value);
    }

    function debit(address from, uint256 value) private {
        uint256 balance = balanceOf[from];
        if (balance < value) revert InsufficientBalance(from, balance, value);
        unchecked {
            balanceOf[from] = balance - value;
        }
    }
}
