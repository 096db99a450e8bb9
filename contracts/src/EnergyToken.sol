// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";

/// @title EnergyToken: the local energy community's ERC-20 (HL-UC02 LL-UC05).
/// @notice One whole token stands for `whPerToken` watt-hours of energy value. The platform operator
/// issues tokens against off-chain payment (`issue`) and burns what a holder redeems (`redeem`), so
/// buying and selling tokens leaves a trail of payment references on the ledger. A payment reference mints
/// once (a repeated or concurrent issue against it is refused), and a holder uses a payout reference once.
contract EnergyToken is ERC20, AccessControl {
    bytes32 public constant ISSUER_ROLE = keccak256("ISSUER_ROLE");

    uint8 private immutable _decimals;
    uint64 public immutable whPerToken;

    error LengthMismatch(uint256 a, uint256 b);
    error BatchTooLarge(uint256 size, uint256 max);
    error ZeroAmount();
    error PaymentRefUsed(bytes32 paymentRef);
    error PayoutRefUsed(address holder, bytes32 payoutRef);

    uint256 public constant MAX_BATCH = 500;

    /// Payment references that have minted (each mints once).
    mapping(bytes32 => bool) public paymentRefUsed;
    /// Payout references each holder has redeemed against (each once per holder).
    mapping(address => mapping(bytes32 => bool)) public payoutRefUsed;

    event Issued(address indexed to, uint256 amount, bytes32 indexed paymentRef);
    event Redeemed(address indexed from, uint256 amount, bytes32 indexed payoutRef);

    constructor(string memory name_, string memory symbol_, uint8 decimals_, uint64 whPerToken_, address admin)
        ERC20(name_, symbol_)
    {
        _decimals = decimals_;
        whPerToken = whPerToken_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(ISSUER_ROLE, admin);
    }

    function decimals() public view override returns (uint8) {
        return _decimals;
    }

    /// A prosumer buys tokens: the issuer mints them once the payment `paymentRef` is received.
    function issue(address to, uint256 amount, bytes32 paymentRef) external onlyRole(ISSUER_ROLE) {
        if (amount == 0) revert ZeroAmount();
        _usePaymentRef(paymentRef);
        _mint(to, amount);
        emit Issued(to, amount, paymentRef);
    }

    function issueBatch(address[] calldata to, uint256[] calldata amounts, bytes32 paymentRef)
        external
        onlyRole(ISSUER_ROLE)
    {
        _checkBatch(to.length, amounts.length);
        _usePaymentRef(paymentRef);
        for (uint256 i = 0; i < to.length; i++) {
            if (amounts[i] == 0) revert ZeroAmount();
            _mint(to[i], amounts[i]);
            emit Issued(to[i], amounts[i], paymentRef);
        }
    }

    /// A prosumer sells tokens back: they are burnt and the operator pays out against `payoutRef`.
    function redeem(uint256 amount, bytes32 payoutRef) external {
        if (amount == 0) revert ZeroAmount();
        if (payoutRefUsed[msg.sender][payoutRef]) revert PayoutRefUsed(msg.sender, payoutRef);
        payoutRefUsed[msg.sender][payoutRef] = true;
        _burn(msg.sender, amount);
        emit Redeemed(msg.sender, amount, payoutRef);
    }

    /// Several transfers from the caller in one transaction (bounded).
    function transferBatch(address[] calldata to, uint256[] calldata amounts) external returns (bool) {
        _checkBatch(to.length, amounts.length);
        for (uint256 i = 0; i < to.length; i++) {
            _transfer(msg.sender, to[i], amounts[i]);
        }
        return true;
    }

    function _usePaymentRef(bytes32 paymentRef) private {
        if (paymentRefUsed[paymentRef]) revert PaymentRefUsed(paymentRef);
        paymentRefUsed[paymentRef] = true;
    }

    function _checkBatch(uint256 a, uint256 b) private pure {
        if (a != b) revert LengthMismatch(a, b);
        if (a > MAX_BATCH) revert BatchTooLarge(a, MAX_BATCH);
    }
}
