// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ParticipantRegistry} from "./ParticipantRegistry.sol";

/// @title MarketSession: the peer-to-peer local energy market's sessions, escrow, clearing and settlement.
/// @notice One session per delivery slot (HL-UC02). Bids escrow `qty * limit` in tokens; offers commit
/// `qty * shortfallPenalty` as collateral. Every order updates the session's order-book hash, so the
/// operator's clearing must name the book it cleared, and the posted trades must hash to the posted result:
/// any node recomputes the clearing from the `OrderSubmitted`/`OrderCancelled` events and disputes a wrong
/// one before delivery. Settlement from metered delivery (operator = metering authority), per trade:
///   delivered = min(metered, matched); buyer pays delivered * price to the seller from its escrow;
///   the shortfall (matched - delivered) costs the seller shortfall * penalty from its collateral, paid to
///   the buyer; green offers earn the buyer delivered * greenReward from the reward pool (while it lasts).
/// What is left in escrow or collateral is withdrawn by its owner once the session is settled or voided.
/// An owner is on one side of a session (bids or offers, checked before any escrow moves), so no trade can
/// have one owner on both sides. A clearing that cannot complete is cancelled by the operator (`cancelSession`):
/// the session is voided and every escrow and collateral goes back.
/// Energies in Wh, prices in token base units per kWh; all amounts round down.
contract MarketSession is AccessControl {
    using SafeERC20 for IERC20;

    bytes32 public constant OPERATOR_ROLE = keccak256("OPERATOR_ROLE");
    uint256 public constant MAX_BATCH = 500;

    enum State {
        None,
        Open,
        Clearing,
        Cleared,
        Settled,
        Disputed,
        Voided
    }

    struct Session {
        State state;
        uint64 gateClosure;
        uint64 deliveryStart;
        uint64 deliveryEnd;
        uint32 orderCount;
        uint32 tradeCount;
        uint32 tradesPosted;
        uint32 tradesSettled;
        uint128 priceCap;
        uint128 clearingPrice;
        uint128 shortfallPenaltyPerKwh;
        uint128 greenRewardPerKwh;
        bytes32 bookHash;
        bytes32 tradesHash;
        bytes32 resultHash;
    }

    struct Order {
        address owner;
        uint64 sessionId;
        bool isBid;
        bool green;
        bool cancelled;
        bool withdrawn;
        uint64 qtyWh;
        uint64 filledWh;
        uint128 limitPrice;
        uint128 locked;
    }

    struct OrderInput {
        address owner;
        bool isBid;
        bool green;
        uint64 qtyWh;
        uint128 limitPrice;
    }

    /// One storage slot: the price of each trade is its own, so discriminatory clearings (pay-as-bid) settle too.
    struct Trade {
        uint32 bidId;
        uint32 offerId;
        uint64 qtyWh;
        uint120 price;
        bool settled;
    }

    struct TradeInput {
        uint32 bidId;
        uint32 offerId;
        uint64 qtyWh;
        uint120 price;
    }

    /// The side an owner holds in a session (1 bids, 2 offers) while it has live orders there.
    struct Side {
        uint8 side;
        uint32 live;
    }

    struct Delivery {
        uint32 tradeId;
        uint64 deliveredWh;
    }

    IERC20 public immutable token;
    ParticipantRegistry public immutable registry;

    mapping(uint64 => Session) private _sessions;
    mapping(uint32 => Order) private _orders;
    mapping(uint64 => Trade[]) private _trades;
    mapping(uint64 => mapping(address => Side)) private _sides;
    uint32 public orderCount;
    mapping(address => mapping(address => bool)) public isBroker;
    mapping(address => uint256) public credits;
    uint256 public rewardPool;
    /// References that have funded the reward pool (each once).
    mapping(bytes32 => bool) public rewardRefUsed;
    /// Tokens this contract owes someone (escrow, collateral, credits, reward pool). Always equals its balance.
    uint256 public held;

    error SessionExists(uint64 sessionId);
    error InvalidSession(string field);
    error WrongState(uint64 sessionId, State state);
    error GateClosed(uint64 sessionId, uint64 gateClosure);
    error GateOpen(uint64 sessionId, uint64 gateClosure);
    error NotRegistered(address account);
    error NotAuthorised(address caller, address owner);
    error InvalidOrder(string field);
    error PriceAboveCap(uint128 price, uint128 cap);
    error UnknownOrder(uint32 orderId);
    error BookMismatch(bytes32 expected, bytes32 given);
    error ResultMismatch(bytes32 expected, bytes32 computed);
    error TooManyTrades(uint32 posted, uint32 declared);
    error InvalidTrade(uint256 index, string reason);
    error DeliveryNotOver(uint64 deliveryEnd);
    error DisputeWindowClosed(uint64 deliveryStart);
    error UnknownTrade(uint32 tradeId);
    error AlreadySettled(uint32 tradeId);
    error AlreadyWithdrawn(uint32 orderId);
    error NothingToClaim();
    error BatchTooLarge(uint256 size, uint256 max);
    error ZeroAmount();
    error RewardRefUsed(bytes32 ref);
    error BothSides(uint64 sessionId, address owner);

    event SessionOpened(
        uint64 indexed sessionId,
        uint64 gateClosure,
        uint64 deliveryStart,
        uint64 deliveryEnd,
        uint128 priceCap,
        uint128 shortfallPenaltyPerKwh,
        uint128 greenRewardPerKwh
    );
    event BrokerSet(address indexed owner, address indexed broker, bool allowed);
    event OrderSubmitted(
        uint64 indexed sessionId,
        uint32 indexed orderId,
        address indexed owner,
        bool isBid,
        bool green,
        uint64 qtyWh,
        uint128 limitPrice,
        uint128 locked
    );
    event OrderCancelled(uint64 indexed sessionId, uint32 indexed orderId, uint128 refunded);
    event ClearingPosted(uint64 indexed sessionId, uint128 price, bytes32 bookHash, bytes32 resultHash, uint32 tradeCount);
    event TradesAdded(uint64 indexed sessionId, uint32 from, uint32 count);
    event SessionCleared(uint64 indexed sessionId, uint128 price, uint32 tradeCount);
    event Disputed(uint64 indexed sessionId, address indexed by, bytes32 claimedResultHash);
    event DisputeResolved(uint64 indexed sessionId, bool voided);
    event TradeSettled(
        uint64 indexed sessionId, uint32 indexed tradeId, uint64 deliveredWh, uint256 paid, uint256 penalty, uint256 greenReward
    );
    event SessionSettled(uint64 indexed sessionId);
    event SessionCancelled(uint64 indexed sessionId);
    event Withdrawn(address indexed owner, uint256 amount);
    event Claimed(address indexed account, uint256 amount);
    event RewardsFunded(address indexed by, uint256 amount, bytes32 indexed ref);

    constructor(IERC20 token_, ParticipantRegistry registry_, address admin) {
        token = token_;
        registry = registry_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(OPERATOR_ROLE, admin);
    }

    // ---------------------------------------------------------------- sessions

    function openSession(
        uint64 sessionId,
        uint64 gateClosure,
        uint64 deliveryStart,
        uint64 deliveryEnd,
        uint128 priceCap,
        uint128 shortfallPenaltyPerKwh,
        uint128 greenRewardPerKwh
    ) external onlyRole(OPERATOR_ROLE) {
        Session storage s = _sessions[sessionId];
        if (s.state != State.None) revert SessionExists(sessionId);
        if (gateClosure <= block.timestamp) revert InvalidSession("gateClosure");
        if (deliveryStart < gateClosure) revert InvalidSession("deliveryStart");
        if (deliveryEnd <= deliveryStart) revert InvalidSession("deliveryEnd");
        if (priceCap == 0) revert InvalidSession("priceCap");
        s.state = State.Open;
        s.gateClosure = gateClosure;
        s.deliveryStart = deliveryStart;
        s.deliveryEnd = deliveryEnd;
        s.priceCap = priceCap;
        s.shortfallPenaltyPerKwh = shortfallPenaltyPerKwh;
        s.greenRewardPerKwh = greenRewardPerKwh;
        emit SessionOpened(
            sessionId, gateClosure, deliveryStart, deliveryEnd, priceCap, shortfallPenaltyPerKwh, greenRewardPerKwh
        );
    }

    /// Allow (or stop) `broker` submitting and cancelling orders for the caller, e.g. the platform's automatic bidding.
    function setBroker(address broker, bool allowed) external {
        isBroker[msg.sender][broker] = allowed;
        emit BrokerSet(msg.sender, broker, allowed);
    }

    /// Tops up the green reward pool; `ref` funds once (a retried funding is refused, not paid twice).
    function fundRewards(uint256 amount, bytes32 ref) external {
        if (amount == 0) revert ZeroAmount();
        if (rewardRefUsed[ref]) revert RewardRefUsed(ref);
        rewardRefUsed[ref] = true;
        token.safeTransferFrom(msg.sender, address(this), amount);
        rewardPool += amount;
        held += amount;
        emit RewardsFunded(msg.sender, amount, ref);
    }

    // ---------------------------------------------------------------- orders

    function submitBid(uint64 sessionId, uint64 qtyWh, uint128 limitPrice) external returns (uint32) {
        return _submit(sessionId, OrderInput(msg.sender, true, false, qtyWh, limitPrice));
    }

    function submitOffer(uint64 sessionId, uint64 qtyWh, uint128 limitPrice, bool green) external returns (uint32) {
        return _submit(sessionId, OrderInput(msg.sender, false, green, qtyWh, limitPrice));
    }

    /// A broker submits orders for owners that authorised it (escrow comes from each owner's allowance).
    function submitOrdersFor(uint64 sessionId, OrderInput[] calldata inputs) external {
        if (inputs.length > MAX_BATCH) revert BatchTooLarge(inputs.length, MAX_BATCH);
        for (uint256 i = 0; i < inputs.length; i++) {
            if (!isBroker[inputs[i].owner][msg.sender]) revert NotAuthorised(msg.sender, inputs[i].owner);
            _submit(sessionId, inputs[i]);
        }
    }

    /// Withdraw an order before gate closure; its escrow or collateral comes back at once.
    function cancelOrder(uint32 orderId) external {
        _cancel(orderId);
    }

    /// Replace an order before gate closure in one step (owner or broker): the old one is withdrawn and a new one
    /// with the same owner, side and green flag but this quantity and limit is submitted (it loses its place).
    /// Either both happen or neither, so a refused amendment leaves the original in the book.
    function amendOrder(uint32 orderId, uint64 qtyWh, uint128 limitPrice) external returns (uint32) {
        Order storage o = _orders[orderId];
        OrderInput memory next = OrderInput(o.owner, o.isBid, o.green, qtyWh, limitPrice);
        uint64 sessionId = o.sessionId;
        _cancel(orderId);
        return _submit(sessionId, next);
    }

    function _cancel(uint32 orderId) private {
        Order storage o = _orders[orderId];
        if (o.owner == address(0)) revert UnknownOrder(orderId);
        if (msg.sender != o.owner && !isBroker[o.owner][msg.sender]) revert NotAuthorised(msg.sender, o.owner);
        if (o.cancelled) revert InvalidOrder("cancelled");
        Session storage s = _sessions[o.sessionId];
        if (s.state != State.Open) revert WrongState(o.sessionId, s.state);
        if (block.timestamp >= s.gateClosure) revert GateClosed(o.sessionId, s.gateClosure);
        o.cancelled = true;
        _sides[o.sessionId][o.owner].live -= 1;
        uint128 refund = o.locked;
        o.locked = 0;
        s.bookHash = keccak256(abi.encode(s.bookHash, orderId, "cancel"));
        if (refund > 0) {
            held -= refund;
            token.safeTransfer(o.owner, refund);
        }
        emit OrderCancelled(o.sessionId, orderId, refund);
    }

    // ---------------------------------------------------------------- clearing

    /// The operator posts the clearing of exactly this order book; trades follow in batches (`addTrades`).
    /// `price` is the uniform price (0 for a discriminatory clearing, where each trade carries its own).
    /// `resultHash` = keccak256(abi.encode(price, tradesHash)), tradesHash chained over (bidId, offerId, qtyWh, price).
    function postClearing(uint64 sessionId, uint128 price, bytes32 bookHash, bytes32 resultHash, uint32 tradeCount)
        external
        onlyRole(OPERATOR_ROLE)
    {
        Session storage s = _sessions[sessionId];
        if (s.state != State.Open) revert WrongState(sessionId, s.state);
        if (block.timestamp < s.gateClosure) revert GateOpen(sessionId, s.gateClosure);
        if (bookHash != s.bookHash) revert BookMismatch(s.bookHash, bookHash);
        if (price > s.priceCap) revert PriceAboveCap(price, s.priceCap);
        s.clearingPrice = price;
        s.resultHash = resultHash;
        s.tradeCount = tradeCount;
        emit ClearingPosted(sessionId, price, bookHash, resultHash, tradeCount);
        if (tradeCount == 0) {
            _completeClearing(sessionId, s);
        } else {
            s.state = State.Clearing;
        }
    }

    function addTrades(uint64 sessionId, TradeInput[] calldata inputs) external onlyRole(OPERATOR_ROLE) {
        Session storage s = _sessions[sessionId];
        if (s.state != State.Clearing) revert WrongState(sessionId, s.state);
        if (inputs.length > MAX_BATCH) revert BatchTooLarge(inputs.length, MAX_BATCH);
        uint32 from = s.tradesPosted;
        if (from + inputs.length > s.tradeCount) revert TooManyTrades(uint32(from + inputs.length), s.tradeCount);
        bytes32 h = s.tradesHash;
        Trade[] storage trades = _trades[sessionId];
        for (uint256 i = 0; i < inputs.length; i++) {
            TradeInput calldata t = inputs[i];
            Order storage bid = _orders[t.bidId];
            Order storage offer = _orders[t.offerId];
            if (bid.sessionId != sessionId || !bid.isBid || bid.cancelled || bid.owner == address(0)) {
                revert InvalidTrade(i, "bid");
            }
            if (offer.sessionId != sessionId || offer.isBid || offer.cancelled || offer.owner == address(0)) {
                revert InvalidTrade(i, "offer");
            }
            if (bid.owner == offer.owner) revert InvalidTrade(i, "self-trade");
            if (t.qtyWh == 0) revert InvalidTrade(i, "qty");
            if (t.price > bid.limitPrice || t.price < offer.limitPrice || t.price > s.priceCap) revert InvalidTrade(i, "price");
            if (bid.filledWh + t.qtyWh > bid.qtyWh) revert InvalidTrade(i, "bid overfilled");
            if (offer.filledWh + t.qtyWh > offer.qtyWh) revert InvalidTrade(i, "offer overfilled");
            bid.filledWh += t.qtyWh;
            offer.filledWh += t.qtyWh;
            trades.push(Trade(t.bidId, t.offerId, t.qtyWh, t.price, false));
            h = keccak256(abi.encode(h, t.bidId, t.offerId, t.qtyWh, t.price));
        }
        s.tradesHash = h;
        s.tradesPosted = uint32(from + inputs.length);
        emit TradesAdded(sessionId, from, uint32(inputs.length));
        if (s.tradesPosted == s.tradeCount) _completeClearing(sessionId, s);
    }

    /// The operator cancels a session whose clearing cannot complete (or that must not trade): it is voided and
    /// every order's escrow and collateral can be withdrawn at once. Not once cleared (that is `dispute`).
    function cancelSession(uint64 sessionId) external onlyRole(OPERATOR_ROLE) {
        Session storage s = _sessions[sessionId];
        if (s.state != State.Open && s.state != State.Clearing) revert WrongState(sessionId, s.state);
        s.state = State.Voided;
        emit SessionCancelled(sessionId);
    }

    /// A registered participant who recomputed a different result stops settlement until the admin decides.
    function dispute(uint64 sessionId, bytes32 claimedResultHash) external {
        if (registry.roleOf(msg.sender) == ParticipantRegistry.Role.None) revert NotRegistered(msg.sender);
        Session storage s = _sessions[sessionId];
        if (s.state != State.Cleared && s.state != State.Clearing) revert WrongState(sessionId, s.state);
        if (block.timestamp >= s.deliveryStart) revert DisputeWindowClosed(s.deliveryStart);
        s.state = State.Disputed;
        emit Disputed(sessionId, msg.sender, claimedResultHash);
    }

    /// Uphold the clearing (back to Cleared) or void it: then every order's escrow and collateral is returned.
    function resolveDispute(uint64 sessionId, bool voidClearing) external onlyRole(DEFAULT_ADMIN_ROLE) {
        Session storage s = _sessions[sessionId];
        if (s.state != State.Disputed) revert WrongState(sessionId, s.state);
        if (voidClearing) {
            s.state = State.Voided;
        } else {
            s.state = s.tradesPosted == s.tradeCount ? State.Cleared : State.Clearing;
        }
        emit DisputeResolved(sessionId, voidClearing);
    }

    // ---------------------------------------------------------------- settlement

    function settle(uint64 sessionId, Delivery[] calldata deliveries) external onlyRole(OPERATOR_ROLE) {
        Session storage s = _sessions[sessionId];
        if (s.state != State.Cleared) revert WrongState(sessionId, s.state);
        if (block.timestamp < s.deliveryEnd) revert DeliveryNotOver(s.deliveryEnd);
        if (deliveries.length > MAX_BATCH) revert BatchTooLarge(deliveries.length, MAX_BATCH);
        Trade[] storage trades = _trades[sessionId];
        for (uint256 i = 0; i < deliveries.length; i++) {
            uint32 tradeId = deliveries[i].tradeId;
            if (tradeId >= trades.length) revert UnknownTrade(tradeId);
            _settleTrade(sessionId, s, trades[tradeId], tradeId, deliveries[i].deliveredWh);
        }
        s.tradesSettled += uint32(deliveries.length);
        if (s.tradesSettled == s.tradeCount) {
            s.state = State.Settled;
            emit SessionSettled(sessionId);
        }
    }

    /// Owners take back what is left of their escrow and collateral once the session is settled or voided.
    function withdraw(uint32[] calldata orderIds) external {
        if (orderIds.length > MAX_BATCH) revert BatchTooLarge(orderIds.length, MAX_BATCH);
        uint256 total;
        for (uint256 i = 0; i < orderIds.length; i++) {
            Order storage o = _orders[orderIds[i]];
            if (o.owner == address(0)) revert UnknownOrder(orderIds[i]);
            if (o.owner != msg.sender) revert NotAuthorised(msg.sender, o.owner);
            if (o.withdrawn) revert AlreadyWithdrawn(orderIds[i]);
            State st = _sessions[o.sessionId].state;
            if (st != State.Settled && st != State.Voided) revert WrongState(o.sessionId, st);
            o.withdrawn = true;
            total += o.locked;
            o.locked = 0;
        }
        if (total > 0) {
            held -= total;
            token.safeTransfer(msg.sender, total);
        }
        emit Withdrawn(msg.sender, total);
    }

    function claim() external {
        uint256 amount = credits[msg.sender];
        if (amount == 0) revert NothingToClaim();
        credits[msg.sender] = 0;
        held -= amount;
        token.safeTransfer(msg.sender, amount);
        emit Claimed(msg.sender, amount);
    }

    // ---------------------------------------------------------------- views

    function session(uint64 sessionId) external view returns (Session memory) {
        return _sessions[sessionId];
    }

    function order(uint32 orderId) external view returns (Order memory) {
        return _orders[orderId];
    }

    function trade(uint64 sessionId, uint32 tradeId) external view returns (Trade memory) {
        return _trades[sessionId][tradeId];
    }

    function sideOf(uint64 sessionId, address owner) external view returns (Side memory) {
        return _sides[sessionId][owner];
    }

    // ---------------------------------------------------------------- internals

    function _submit(uint64 sessionId, OrderInput memory input) private returns (uint32 id) {
        Session storage s = _sessions[sessionId];
        if (s.state != State.Open) revert WrongState(sessionId, s.state);
        if (block.timestamp >= s.gateClosure) revert GateClosed(sessionId, s.gateClosure);
        ParticipantRegistry.Role role = registry.roleOf(input.owner);
        if (role != ParticipantRegistry.Role.Prosumer && role != ParticipantRegistry.Role.Aggregator) {
            revert NotRegistered(input.owner);
        }
        if (input.qtyWh == 0) revert InvalidOrder("qtyWh");
        if (input.limitPrice > s.priceCap) revert PriceAboveCap(input.limitPrice, s.priceCap);
        if (input.isBid && input.green) revert InvalidOrder("green");
        Side storage side = _sides[sessionId][input.owner];
        uint8 want = input.isBid ? 1 : 2;
        if (side.live > 0 && side.side != want) revert BothSides(sessionId, input.owner);
        side.side = want;
        side.live += 1;
        uint256 lock = input.isBid
            ? uint256(input.qtyWh) * input.limitPrice / 1000
            : uint256(input.qtyWh) * s.shortfallPenaltyPerKwh / 1000;
        id = ++orderCount;
        _orders[id] = Order(
            input.owner, sessionId, input.isBid, input.green, false, false, input.qtyWh, 0, input.limitPrice, uint128(lock)
        );
        s.orderCount += 1;
        s.bookHash = keccak256(
            abi.encode(s.bookHash, id, input.owner, input.isBid, input.green, input.qtyWh, input.limitPrice)
        );
        if (lock > 0) {
            token.safeTransferFrom(input.owner, address(this), lock);
            held += lock;
        }
        emit OrderSubmitted(sessionId, id, input.owner, input.isBid, input.green, input.qtyWh, input.limitPrice, uint128(lock));
    }

    function _settleTrade(uint64 sessionId, Session storage s, Trade storage t, uint32 tradeId, uint64 metered)
        private
    {
        if (t.settled) revert AlreadySettled(tradeId);
        t.settled = true;
        uint64 d = metered < t.qtyWh ? metered : t.qtyWh;
        Order storage bid = _orders[t.bidId];
        Order storage offer = _orders[t.offerId];
        uint128 paid = uint128(uint256(d) * t.price / 1000);
        bid.locked -= paid;
        credits[offer.owner] += paid;
        uint128 penalty = uint128(uint256(t.qtyWh - d) * s.shortfallPenaltyPerKwh / 1000);
        if (penalty > offer.locked) penalty = offer.locked;
        offer.locked -= penalty;
        uint256 reward;
        if (offer.green && s.greenRewardPerKwh > 0) {
            reward = uint256(d) * s.greenRewardPerKwh / 1000;
            if (reward > rewardPool) reward = rewardPool;
            rewardPool -= reward;
        }
        if (penalty + reward > 0) credits[bid.owner] += penalty + reward;
        emit TradeSettled(sessionId, tradeId, d, paid, penalty, reward);
    }

    function _completeClearing(uint64 sessionId, Session storage s) private {
        bytes32 computed = keccak256(abi.encode(s.clearingPrice, s.tradesHash));
        if (computed != s.resultHash) revert ResultMismatch(s.resultHash, computed);
        s.state = State.Cleared;
        emit SessionCleared(sessionId, s.clearingPrice, s.tradeCount);
    }
}
