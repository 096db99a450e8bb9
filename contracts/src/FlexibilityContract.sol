// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ParticipantRegistry} from "./ParticipantRegistry.sol";

/// @title FlexibilityContract: self-enforcing flexibility agreements between an aggregator and its prosumers.
/// @notice One agreement per prosumer and aggregator (HL-UC01): the contracted baseline curve (its hash; the
/// curve itself is stored off-chain), the availability window, incentive and penalty rates and a tolerance
/// band. The aggregator funds a reward pool and the prosumer may post collateral. Each DR signal reserves
/// its largest possible reward from the pool, so settlement can always pay. Verification results come from
/// the verification engine (VERIFIER_ROLE); anyone can then settle, once.
///
/// Settlement rule (energies in Wh, rates in token base units per kWh):
///   lower = requested * (10000 - toleranceBp) / 10000
///   reward = min(delivered, requested) * incentive / 1000          (paid from the reservation)
///   penalty = delivered < lower ? (lower - delivered) * penalty / 1000 : 0, capped at the collateral
///   The unused reservation returns to the pool; the penalty moves from collateral to the pool.
contract FlexibilityContract is AccessControl {
    using SafeERC20 for IERC20;

    bytes32 public constant VERIFIER_ROLE = keccak256("VERIFIER_ROLE");

    enum Status {
        None,
        Proposed,
        Active,
        Terminated
    }

    struct Terms {
        bytes32 baselineHash;
        uint64 validFrom;
        uint64 validUntil;
        uint16 windowStartMinute; // daily availability window, minutes after midnight UTC
        uint16 windowEndMinute;
        uint16 toleranceBp;
        uint64 maxFlexWh;
        uint128 incentivePerKwh;
        uint128 penaltyPerKwh;
    }

    struct Agreement {
        address prosumer;
        address aggregator;
        Status status;
        uint32 openEvents;
        Terms terms;
        uint256 pool; // aggregator's unreserved reward funds
        uint256 collateral; // prosumer's collateral
    }

    struct DrEvent {
        uint64 start;
        uint64 end;
        uint64 requestedWh;
        uint64 deliveredWh;
        bool verified;
        bool settled;
        uint256 reserved;
        bytes32 signalHash;
    }

    IERC20 public immutable token;
    ParticipantRegistry public immutable registry;

    uint256 public agreementCount;
    mapping(uint256 => Agreement) private _agreements;
    mapping(uint256 => mapping(bytes32 => DrEvent)) private _events;
    mapping(address => uint256) public credits;
    uint256 public totalCredits;
    /// Tokens this contract owes someone: pools, reservations, collateral and credits. Always equals its balance.
    uint256 public held;

    error NotAggregator(address caller);
    error NotProsumerOfAggregator(address prosumer, address aggregator);
    error InvalidTerms(string field);
    error UnknownAgreement(uint256 id);
    error WrongStatus(uint256 id, Status status);
    error NotParty(address caller);
    error OutsideAgreement(uint64 start, uint64 end);
    error OutsideWindow(uint64 start, uint64 end);
    error TooMuchFlexibility(uint64 requestedWh, uint64 maxFlexWh);
    error DuplicateEvent(bytes32 eventId);
    error UnknownEvent(bytes32 eventId);
    error EventNotOver(uint64 end);
    error AlreadyVerified(bytes32 eventId);
    error NotVerified(bytes32 eventId);
    error AlreadySettled(bytes32 eventId);
    error InsufficientRewardPool(uint256 needed, uint256 available);
    error OpenEvents(uint32 count);
    error NothingToClaim();
    error ZeroAmount();

    event AgreementProposed(uint256 indexed id, address indexed prosumer, address indexed aggregator, Terms terms);
    event AgreementAccepted(uint256 indexed id, uint256 collateral);
    event AgreementTerminated(uint256 indexed id, address by);
    event PoolFunded(uint256 indexed id, uint256 amount);
    event PoolWithdrawn(uint256 indexed id, uint256 amount);
    event CollateralWithdrawn(uint256 indexed id, uint256 amount);
    event SignalInjected(
        uint256 indexed id, bytes32 indexed eventId, uint64 start, uint64 end, uint64 requestedWh, bytes32 signalHash
    );
    event VerificationPosted(
        uint256 indexed id, bytes32 indexed eventId, uint64 deliveredWh, uint64 baselineWh, uint64 measuredWh, bytes32 evidenceHash
    );
    event Settled(uint256 indexed id, bytes32 indexed eventId, uint256 reward, uint256 penalty);
    event Claimed(address indexed account, uint256 amount);

    constructor(IERC20 token_, ParticipantRegistry registry_, address admin) {
        token = token_;
        registry = registry_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(VERIFIER_ROLE, admin);
    }

    // ---------------------------------------------------------------- agreements

    /// The aggregator proposes terms to one of its prosumers and deposits `deposit` into the reward pool.
    function propose(address prosumer, Terms calldata terms, uint256 deposit) external returns (uint256 id) {
        if (registry.roleOf(msg.sender) != ParticipantRegistry.Role.Aggregator) revert NotAggregator(msg.sender);
        if (
            registry.roleOf(prosumer) != ParticipantRegistry.Role.Prosumer
                || registry.aggregatorOf(prosumer) != msg.sender
        ) revert NotProsumerOfAggregator(prosumer, msg.sender);
        if (terms.validUntil <= terms.validFrom) revert InvalidTerms("validUntil");
        if (terms.windowEndMinute > 1440 || terms.windowStartMinute >= terms.windowEndMinute) {
            revert InvalidTerms("window");
        }
        if (terms.toleranceBp > 10000) revert InvalidTerms("toleranceBp");
        if (terms.maxFlexWh == 0) revert InvalidTerms("maxFlexWh");
        id = ++agreementCount;
        Agreement storage a = _agreements[id];
        a.prosumer = prosumer;
        a.aggregator = msg.sender;
        a.status = Status.Proposed;
        a.terms = terms;
        emit AgreementProposed(id, prosumer, msg.sender, terms);
        if (deposit > 0) _fund(a, id, deposit);
    }

    /// The prosumer accepts the terms, posting `collateral` (may be zero).
    function accept(uint256 id, uint256 collateral) external {
        Agreement storage a = _agreement(id);
        if (msg.sender != a.prosumer) revert NotParty(msg.sender);
        if (a.status != Status.Proposed) revert WrongStatus(id, a.status);
        a.status = Status.Active;
        if (collateral > 0) {
            token.safeTransferFrom(msg.sender, address(this), collateral);
            a.collateral = collateral;
            held += collateral;
        }
        emit AgreementAccepted(id, collateral);
    }

    function fund(uint256 id, uint256 amount) external {
        Agreement storage a = _agreement(id);
        if (msg.sender != a.aggregator) revert NotParty(msg.sender);
        if (a.status == Status.Terminated) revert WrongStatus(id, a.status);
        if (amount == 0) revert ZeroAmount();
        _fund(a, id, amount);
    }

    /// Either party ends the agreement once no DR event is open.
    function terminate(uint256 id) external {
        Agreement storage a = _agreement(id);
        if (msg.sender != a.prosumer && msg.sender != a.aggregator) revert NotParty(msg.sender);
        if (a.status == Status.Terminated) revert WrongStatus(id, a.status);
        if (a.openEvents != 0) revert OpenEvents(a.openEvents);
        a.status = Status.Terminated;
        emit AgreementTerminated(id, msg.sender);
    }

    /// The aggregator takes back unreserved pool funds (any time: reservations protect open events).
    function withdrawPool(uint256 id, uint256 amount) external {
        Agreement storage a = _agreement(id);
        if (msg.sender != a.aggregator) revert NotParty(msg.sender);
        if (amount == 0) revert ZeroAmount();
        if (amount > a.pool) revert InsufficientRewardPool(amount, a.pool);
        a.pool -= amount;
        held -= amount;
        token.safeTransfer(msg.sender, amount);
        emit PoolWithdrawn(id, amount);
    }

    /// The prosumer takes back its collateral after the agreement ended or expired, with no open event.
    function withdrawCollateral(uint256 id) external {
        Agreement storage a = _agreement(id);
        if (msg.sender != a.prosumer) revert NotParty(msg.sender);
        if (a.status != Status.Terminated && block.timestamp < a.terms.validUntil) revert WrongStatus(id, a.status);
        if (a.openEvents != 0) revert OpenEvents(a.openEvents);
        uint256 amount = a.collateral;
        if (amount == 0) revert NothingToClaim();
        a.collateral = 0;
        held -= amount;
        token.safeTransfer(msg.sender, amount);
        emit CollateralWithdrawn(id, amount);
    }

    // ---------------------------------------------------------------- DR events

    /// The aggregator records the DR signal sent to the prosumer's VEN and reserves its largest reward.
    function injectSignal(uint256 id, bytes32 eventId, uint64 start, uint64 end, uint64 requestedWh, bytes32 signalHash)
        external
    {
        Agreement storage a = _agreement(id);
        if (msg.sender != a.aggregator) revert NotParty(msg.sender);
        if (a.status != Status.Active) revert WrongStatus(id, a.status);
        Terms storage t = a.terms;
        if (end <= start || start < t.validFrom || end > t.validUntil) revert OutsideAgreement(start, end);
        uint64 day = start - (start % 86400);
        if (start < day + uint64(t.windowStartMinute) * 60 || end > day + uint64(t.windowEndMinute) * 60) {
            revert OutsideWindow(start, end);
        }
        if (requestedWh == 0 || requestedWh > t.maxFlexWh) revert TooMuchFlexibility(requestedWh, t.maxFlexWh);
        DrEvent storage e = _events[id][eventId];
        if (e.end != 0) revert DuplicateEvent(eventId);
        uint256 reserve = uint256(requestedWh) * t.incentivePerKwh / 1000;
        if (reserve > a.pool) revert InsufficientRewardPool(reserve, a.pool);
        a.pool -= reserve;
        a.openEvents += 1;
        e.start = start;
        e.end = end;
        e.requestedWh = requestedWh;
        e.reserved = reserve;
        e.signalHash = signalHash;
        emit SignalInjected(id, eventId, start, end, requestedWh, signalHash);
    }

    /// The verification engine posts what was delivered against the contracted baseline.
    function postVerification(
        uint256 id,
        bytes32 eventId,
        uint64 deliveredWh,
        uint64 baselineWh,
        uint64 measuredWh,
        bytes32 evidenceHash
    ) external onlyRole(VERIFIER_ROLE) {
        _agreement(id);
        DrEvent storage e = _events[id][eventId];
        if (e.end == 0) revert UnknownEvent(eventId);
        if (block.timestamp < e.end) revert EventNotOver(e.end);
        if (e.verified) revert AlreadyVerified(eventId);
        e.verified = true;
        e.deliveredWh = deliveredWh;
        emit VerificationPosted(id, eventId, deliveredWh, baselineWh, measuredWh, evidenceHash);
    }

    /// Anyone settles a verified event, once: reward to the prosumer, penalty to the pool.
    function settle(uint256 id, bytes32 eventId) external returns (uint256 reward, uint256 penalty) {
        Agreement storage a = _agreement(id);
        DrEvent storage e = _events[id][eventId];
        if (e.end == 0) revert UnknownEvent(eventId);
        if (!e.verified) revert NotVerified(eventId);
        if (e.settled) revert AlreadySettled(eventId);
        e.settled = true;
        a.openEvents -= 1;
        (reward, penalty) = outcome(a.terms, e.requestedWh, e.deliveredWh);
        if (penalty > a.collateral) penalty = a.collateral;
        a.collateral -= penalty;
        a.pool += e.reserved - reward + penalty;
        if (reward > 0) {
            credits[a.prosumer] += reward;
            totalCredits += reward;
        }
        emit Settled(id, eventId, reward, penalty);
    }

    /// Pay out the caller's settled rewards.
    function claim() external {
        uint256 amount = credits[msg.sender];
        if (amount == 0) revert NothingToClaim();
        credits[msg.sender] = 0;
        totalCredits -= amount;
        held -= amount;
        token.safeTransfer(msg.sender, amount);
        emit Claimed(msg.sender, amount);
    }

    // ---------------------------------------------------------------- views

    /// The settlement rule, uncapped by collateral (see the contract's notice).
    function outcome(Terms memory t, uint64 requestedWh, uint64 deliveredWh)
        public
        pure
        returns (uint256 reward, uint256 penalty)
    {
        uint256 shifted = deliveredWh < requestedWh ? deliveredWh : requestedWh;
        reward = shifted * t.incentivePerKwh / 1000;
        uint256 lower = uint256(requestedWh) * (10000 - t.toleranceBp) / 10000;
        if (deliveredWh < lower) penalty = (lower - deliveredWh) * t.penaltyPerKwh / 1000;
    }

    function agreement(uint256 id) external view returns (Agreement memory) {
        return _agreement(id);
    }

    function drEvent(uint256 id, bytes32 eventId) external view returns (DrEvent memory) {
        return _events[id][eventId];
    }

    function _agreement(uint256 id) private view returns (Agreement storage a) {
        a = _agreements[id];
        if (a.status == Status.None) revert UnknownAgreement(id);
    }

    function _fund(Agreement storage a, uint256 id, uint256 amount) private {
        token.safeTransferFrom(msg.sender, address(this), amount);
        a.pool += amount;
        held += amount;
        emit PoolFunded(id, amount);
    }
}
