// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";

/// @title ParticipantRegistry: who takes part, in which role, behind which meter and wallet.
contract ParticipantRegistry is AccessControl {
    bytes32 public constant REGISTRAR_ROLE = keccak256("REGISTRAR_ROLE");
    uint256 public constant MAX_BATCH = 500;

    enum Role {
        None,
        Prosumer,
        Aggregator,
        Dso
    }

    struct Participant {
        Role role;
        bool active;
        uint64 registeredAt;
        address aggregator;
        bytes32 meterId;
    }

    mapping(address => Participant) private _participants;
    uint256 public activeCount;

    error AlreadyRegistered(address wallet);
    error NotRegistered(address wallet);
    error InvalidRole();
    error ZeroAddress();
    error NotAnAggregator(address aggregator);
    error LengthMismatch();
    error BatchTooLarge(uint256 size, uint256 max);

    event Registered(address indexed wallet, Role role, bytes32 meterId, address indexed aggregator);
    event Deregistered(address indexed wallet);
    event MeterChanged(address indexed wallet, bytes32 meterId);
    event AggregatorChanged(address indexed wallet, address indexed aggregator);

    constructor(address admin) {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(REGISTRAR_ROLE, admin);
    }

    function register(address wallet, Role role, bytes32 meterId, address aggregator)
        external
        onlyRole(REGISTRAR_ROLE)
    {
        _register(wallet, role, meterId, aggregator);
    }

    function registerBatch(
        address[] calldata wallets,
        Role[] calldata roles,
        bytes32[] calldata meterIds,
        address[] calldata aggregators
    ) external onlyRole(REGISTRAR_ROLE) {
        uint256 n = wallets.length;
        if (roles.length != n || meterIds.length != n || aggregators.length != n) revert LengthMismatch();
        if (n > MAX_BATCH) revert BatchTooLarge(n, MAX_BATCH);
        for (uint256 i = 0; i < n; i++) {
            _register(wallets[i], roles[i], meterIds[i], aggregators[i]);
        }
    }

    function deregister(address wallet) external onlyRole(REGISTRAR_ROLE) {
        Participant storage p = _participants[wallet];
        if (!p.active) revert NotRegistered(wallet);
        p.active = false;
        activeCount -= 1;
        emit Deregistered(wallet);
    }

    function setMeter(address wallet, bytes32 meterId) external onlyRole(REGISTRAR_ROLE) {
        Participant storage p = _participants[wallet];
        if (!p.active) revert NotRegistered(wallet);
        p.meterId = meterId;
        emit MeterChanged(wallet, meterId);
    }

    function setAggregator(address wallet, address aggregator) external onlyRole(REGISTRAR_ROLE) {
        Participant storage p = _participants[wallet];
        if (!p.active) revert NotRegistered(wallet);
        if (aggregator != address(0) && roleOf(aggregator) != Role.Aggregator) revert NotAnAggregator(aggregator);
        p.aggregator = aggregator;
        emit AggregatorChanged(wallet, aggregator);
    }

    /// The role of an active participant, or None.
    function roleOf(address wallet) public view returns (Role) {
        Participant storage p = _participants[wallet];
        return p.active ? p.role : Role.None;
    }

    function aggregatorOf(address wallet) external view returns (address) {
        return _participants[wallet].aggregator;
    }

    function participant(address wallet) external view returns (Participant memory) {
        return _participants[wallet];
    }

    function _register(address wallet, Role role, bytes32 meterId, address aggregator) private {
        if (wallet == address(0)) revert ZeroAddress();
        if (role == Role.None) revert InvalidRole();
        Participant storage p = _participants[wallet];
        if (p.active) revert AlreadyRegistered(wallet);
        if (aggregator != address(0) && roleOf(aggregator) != Role.Aggregator) revert NotAnAggregator(aggregator);
        p.role = role;
        p.active = true;
        p.registeredAt = uint64(block.timestamp);
        p.aggregator = aggregator;
        p.meterId = meterId;
        activeCount += 1;
        emit Registered(wallet, role, meterId, aggregator);
    }
}
