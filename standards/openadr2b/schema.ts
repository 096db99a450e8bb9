/**
 * The OpenADR 2.0b profile B payloads as data: each complex type is the ordered list of its child
 * elements with namespace, occurrence and type, written by hand from `oadr_20b.xsd` and the schemas it
 * imports (element order matters: it is the commonest interop failure). One encoder and one validating
 * decoder (codec.ts) walk these definitions, so what we emit and what we accept follow the same rules.
 */

export const NS = {
  oadr: 'http://openadr.org/oadr-2.0b/2012/07',
  ei: 'http://docs.oasis-open.org/ns/energyinterop/201110',
  pyld: 'http://docs.oasis-open.org/ns/energyinterop/201110/payloads',
  emix: 'http://docs.oasis-open.org/ns/emix/2011/06',
  xcal: 'urn:ietf:params:xml:ns:icalendar-2.0',
  strm: 'urn:ietf:params:xml:ns:icalendar-2.0:stream',
  power: 'http://docs.oasis-open.org/ns/emix/2011/06/power',
  scale: 'http://docs.oasis-open.org/ns/emix/2011/06/siscale',
  ds: 'http://www.w3.org/2000/09/xmldsig#',
  dsp: 'http://openadr.org/oadr-2.0b/2012/07/xmldsig-properties',
  gml: 'http://www.opengis.net/gml/3.2',
  atom: 'http://www.w3.org/2005/Atom',
} as const;
export type Prefix = keyof typeof NS;

/** Leaf types (xs simple types with the facets the schemas give them). */
export type Leaf =
  | { t: 'string' }
  | { t: 'boolean' }
  | { t: 'uint'; min?: number; max?: number }
  | { t: 'float' }
  | { t: 'decimal' }
  | { t: 'dateTime' }
  | { t: 'duration' }
  | { t: 'uri' }
  | { t: 'code' }
  /** ISO 4217 alpha-3 currency code. */
  | { t: 'currency' }
  /** A token from a list; `ext` also admits `x-…` extension tokens (EiExtensionTokenType). */
  | { t: 'enum'; values: readonly string[]; ext?: boolean }
  /** A fixed value (xs:element fixed="…"). */
  | { t: 'fixed'; value: string };

export interface Field {
  name: string;
  ns: Prefix;
  min: 0 | 1;
  max: 1 | 'n';
  type: TypeRef;
}

/** One of several elements (a substitution group or xs:choice), stored as `{ [elementName]: value }`. */
export interface Choice {
  choice: Field[];
  /** The property the chosen element is kept under. */
  key: string;
  min: 0 | 1;
  max: 1 | 'n';
}

export interface Complex {
  seq: Array<Field | Choice>;
}

/** An element kept as is (content from schemas gridflex does not interpret: GML, Atom). */
export interface Opaque {
  opaque: true;
}

export type TypeRef = Leaf | Complex | Opaque | (() => Complex);

const f = (ns: Prefix, name: string, type: TypeRef, min: 0 | 1 = 1, max: 1 | 'n' = 1): Field => ({ name, ns, type, min, max });
const opt = (ns: Prefix, name: string, type: TypeRef): Field => f(ns, name, type, 0, 1);
const many = (ns: Prefix, name: string, type: TypeRef, min: 0 | 1 = 0): Field => f(ns, name, type, min, 'n');
const seq = (...items: Array<Field | Choice>): Complex => ({ seq: items });

const S: Leaf = { t: 'string' };
const B: Leaf = { t: 'boolean' };
const U: Leaf = { t: 'uint' };
const F: Leaf = { t: 'float' };
const DT: Leaf = { t: 'dateTime' };
const DUR: Leaf = { t: 'duration' };
const OPAQUE: Opaque = { opaque: true };
const en = (values: readonly string[], ext = false): Leaf => ({ t: 'enum', values, ext });
const fixed = (value: string): Leaf => ({ t: 'fixed', value });

// ---- Enumerations (oadr_ei_20b.xsd, oadr_20b.xsd, oadr_siscale_20b.xsd) ----
export const EVENT_STATUS = ['none', 'far', 'near', 'active', 'completed', 'cancelled'] as const;
export const SIGNAL_TYPES = ['delta', 'level', 'multiplier', 'price', 'priceMultiplier', 'priceRelative', 'setpoint', 'x-loadControlCapacity', 'x-loadControlLevelOffset', 'x-loadControlPercentOffset', 'x-loadControlSetpoint'] as const;
export const SIGNAL_NAMES = ['SIMPLE', 'simple', 'ELECTRICITY_PRICE', 'ENERGY_PRICE', 'DEMAND_CHARGE', 'BID_PRICE', 'BID_LOAD', 'BID_ENERGY', 'CHARGE_STATE', 'LOAD_DISPATCH', 'LOAD_CONTROL'] as const;
export const OPT_TYPES = ['optIn', 'optOut'] as const;
export const OPT_REASONS = ['economic', 'emergency', 'mustRun', 'notParticipating', 'outageRunStatus', 'overrideStatus', 'participating', 'x-schedule'] as const;
export const REPORT_NAMES = ['METADATA_HISTORY_USAGE', 'HISTORY_USAGE', 'METADATA_HISTORY_GREENBUTTON', 'HISTORY_GREENBUTTON', 'METADATA_TELEMETRY_USAGE', 'TELEMETRY_USAGE', 'METADATA_TELEMETRY_STATUS', 'TELEMETRY_STATUS'] as const;
export const REPORT_TYPES = ['reading', 'usage', 'demand', 'setPoint', 'deltaUsage', 'deltaSetPoint', 'deltaDemand', 'baseline', 'deviation', 'avgUsage', 'avgDemand', 'operatingState', 'upRegulationCapacityAvailable', 'downRegulationCapacityAvailable', 'regulationSetpoint', 'storedEnergy', 'targetEnergyStorage', 'availableEnergyStorage', 'price', 'level', 'powerFactor', 'percentUsage', 'percentDemand', 'x-resourceStatus'] as const;
export const READING_TYPES = ['Direct Read', 'Net', 'Allocated', 'Estimated', 'Summed', 'Derived', 'Mean', 'Peak', 'Hybrid', 'Contract', 'Projected', 'x-RMS', 'x-notApplicable'] as const;
export const SI_SCALE = ['p', 'n', 'micro', 'm', 'c', 'd', 'k', 'M', 'G', 'T', 'none'] as const;
export const DATA_QUALITY = ['No Quality - No Value', 'No New Value - Previous Value Used', 'Quality Bad - Non Specific', 'Quality Bad - Configuration Error', 'Quality Bad - Not Connected', 'Quality Bad - Device Failure', 'Quality Bad - Sensor Failure', 'Quality Bad - Last Known Value', 'Quality Bad - Comm Failure', 'Quality Bad - Out of Service', 'Quality Uncertain - Non Specific', 'Quality Uncertain - Last Usable Value', 'Quality Uncertain - Sensor Not Accurate', 'Quality Uncertain - EU Units Exceeded', 'Quality Uncertain - Sub Normal', 'Quality Good - Non Specific', 'Quality Good - Local Override', 'Quality Limit - Field/Not', 'Quality Limit - Field/Low', 'Quality Limit - Field/High', 'Quality Limit - Field/Constant'] as const;
export const POWER_REAL_UNITS = ['W'] as const;

// ---- xcal ----
export const durationProp = seq(f('xcal', 'duration', DUR));
export const dtstart = seq(f('xcal', 'date-time', DT));
const uid = seq(f('xcal', 'text', S));
export const properties = seq(
  f('xcal', 'dtstart', dtstart),
  f('xcal', 'duration', durationProp),
  opt('xcal', 'tolerance', seq(f('xcal', 'tolerate', seq(opt('xcal', 'startafter', DUR))))),
  opt('ei', 'x-eiNotification', durationProp),
  opt('ei', 'x-eiRampUp', durationProp),
  opt('ei', 'x-eiRecovery', durationProp),
);
const vavailability = seq(f('xcal', 'components', seq(many('xcal', 'available', seq(f('xcal', 'properties', properties))))));

// ---- units (emix:itemBase substitution group) ----
const siScale = f('scale', 'siScaleCode', en(SI_SCALE));
const powerAttributes = seq(f('power', 'hertz', { t: 'decimal' }), f('power', 'voltage', { t: 'decimal' }), f('power', 'ac', B));
const oadrUnit = (desc: Leaf, units: Leaf): Complex => seq(f('oadr', 'itemDescription', desc), f('oadr', 'itemUnits', units), siScale);
const powerUnit = (desc: string, units: Leaf, attrs: boolean): Complex =>
  seq(f('power', 'itemDescription', fixed(desc)), f('power', 'itemUnits', units), siScale, ...(attrs ? [f('power', 'powerAttributes', powerAttributes)] : []));
const currency: Leaf = { t: 'currency' };
export const itemBase: Choice = {
  key: 'itemBase',
  min: 0,
  max: 1,
  choice: [
    f('oadr', 'customUnit', oadrUnit(S, S)),
    f('oadr', 'current', oadrUnit(fixed('Current'), fixed('A'))),
    f('oadr', 'currency', oadrUnit(en(['currency', 'currencyPerKW', 'currencyPerKWh']), currency)),
    f('oadr', 'currencyPerKWh', oadrUnit(en(['currency', 'currencyPerKW', 'currencyPerKWh']), currency)),
    f('oadr', 'currencyPerKW', oadrUnit(en(['currency', 'currencyPerKW', 'currencyPerKWh']), currency)),
    f('oadr', 'currencyPerThm', oadrUnit(en(['currency', 'currencyPerKW', 'currencyPerKWh']), currency)),
    f('oadr', 'frequency', oadrUnit(fixed('Frequency'), fixed('Hz'))),
    f('oadr', 'Therm', oadrUnit(fixed('Therm'), fixed('thm'))),
    f('oadr', 'temperature', oadrUnit(fixed('temperature'), en(['celsius', 'fahrenheit']))),
    f('oadr', 'pulseCount', seq(f('oadr', 'itemDescription', fixed('pulse count')), f('oadr', 'itemUnits', fixed('count')), f('oadr', 'pulseFactor', F))),
    f('power', 'voltage', seq(f('power', 'itemDescription', fixed('Voltage')), f('power', 'itemUnits', fixed('V')), siScale)),
    f('power', 'energyApparent', powerUnit('ApparentEnergy', fixed('VAh'), false)),
    f('power', 'energyReactive', powerUnit('ReactiveEnergy', fixed('VARh'), false)),
    f('power', 'energyReal', powerUnit('RealEnergy', fixed('Wh'), false)),
    f('power', 'powerApparent', powerUnit('ApparentPower', fixed('VA'), true)),
    f('power', 'powerReactive', powerUnit('ReactivePower', fixed('VAR'), true)),
    f('power', 'powerReal', powerUnit('RealPower', en(POWER_REAL_UNITS), true)),
    f('oadr', 'oadrGBDataDescription', OPAQUE),
  ],
};

// ---- ei ----
export const eiResponse = seq(f('ei', 'responseCode', { t: 'code' }), opt('ei', 'responseDescription', S), f('pyld', 'requestID', S));
const qualifiedEventID = seq(f('ei', 'eventID', S), f('ei', 'modificationNumber', U));
const node = seq(f('power', 'node', S));
const mrid = seq(f('power', 'mrid', S));
export const eiTarget = seq(
  many('power', 'aggregatedPnode', node),
  many('power', 'endDeviceAsset', mrid),
  many('power', 'meterAsset', mrid),
  many('power', 'pnode', node),
  many('emix', 'serviceArea', OPAQUE),
  many('power', 'serviceDeliveryPoint', node),
  many('power', 'serviceLocation', OPAQUE),
  many('power', 'transportInterface', OPAQUE),
  many('ei', 'groupID', S),
  many('ei', 'groupName', S),
  many('ei', 'resourceID', S),
  many('ei', 'venID', S),
  many('ei', 'partyID', S),
);
const loadControlStateValue = seq(opt('oadr', 'oadrMin', F), opt('oadr', 'oadrMax', F), f('oadr', 'oadrCurrent', F), opt('oadr', 'oadrNormal', F));
const payloadBase: Choice = {
  key: 'payloadBase',
  min: 1,
  max: 1,
  choice: [
    f('ei', 'payloadFloat', seq(f('ei', 'value', F))),
    f(
      'oadr',
      'oadrPayloadResourceStatus',
      seq(
        f('oadr', 'oadrOnline', B),
        f('oadr', 'oadrManualOverride', B),
        opt(
          'oadr',
          'oadrLoadControlState',
          seq(opt('oadr', 'oadrCapacity', loadControlStateValue), opt('oadr', 'oadrLevelOffset', loadControlStateValue), opt('oadr', 'oadrPercentOffset', loadControlStateValue), opt('oadr', 'oadrSetPoint', loadControlStateValue)),
        ),
      ),
    ),
  ],
};
const streamPayloadBase: Choice = {
  key: 'payloads',
  min: 1,
  max: 'n',
  choice: [
    f('ei', 'signalPayload', seq(payloadBase)),
    f('oadr', 'oadrReportPayload', seq(f('ei', 'rID', S), opt('ei', 'confidence', { t: 'uint', min: 0, max: 100 }), opt('ei', 'accuracy', F), payloadBase, opt('oadr', 'oadrDataQuality', en(DATA_QUALITY, true)))),
    f('oadr', 'oadrGBPayload', OPAQUE),
  ],
};
export const interval = seq(opt('xcal', 'dtstart', dtstart), opt('xcal', 'duration', durationProp), opt('xcal', 'uid', uid), streamPayloadBase);
export const intervals = seq(many('ei', 'interval', interval, 1));

export const eventDescriptor = seq(
  f('ei', 'eventID', S),
  f('ei', 'modificationNumber', U),
  opt('ei', 'modificationDateTime', DT),
  opt('ei', 'modificationReason', S),
  opt('ei', 'priority', U),
  f('ei', 'eiMarketContext', seq(f('emix', 'marketContext', { t: 'uri' }))),
  f('ei', 'createdDateTime', DT),
  f('ei', 'eventStatus', en(EVENT_STATUS)),
  opt('ei', 'testEvent', S),
  opt('ei', 'vtnComment', S),
);
export const eiEventSignal = seq(
  f('strm', 'intervals', intervals),
  opt('ei', 'eiTarget', eiTarget),
  f('ei', 'signalName', en(SIGNAL_NAMES, true)),
  f('ei', 'signalType', en(SIGNAL_TYPES)),
  f('ei', 'signalID', S),
  itemBase,
  opt('ei', 'currentValue', seq(f('ei', 'payloadFloat', seq(f('ei', 'value', F))))),
);
const eiEventBaseline = seq(
  f('xcal', 'dtstart', dtstart),
  f('xcal', 'duration', durationProp),
  f('strm', 'intervals', intervals),
  f('ei', 'baselineID', S),
  many('ei', 'resourceID', S),
  f('ei', 'baselineName', S),
  itemBase,
);
export const eiEvent = seq(
  f('ei', 'eventDescriptor', eventDescriptor),
  f('ei', 'eiActivePeriod', seq(f('xcal', 'properties', properties), f('xcal', 'components', OPAQUE))),
  f('ei', 'eiEventSignals', seq(many('ei', 'eiEventSignal', eiEventSignal, 1), opt('ei', 'eiEventBaseline', eiEventBaseline))),
  f('ei', 'eiTarget', eiTarget),
);

// ---- reports ----
const specifierPayload = seq(f('ei', 'rID', S), itemBase, f('ei', 'readingType', en(READING_TYPES, true)));
export const oadrReportRequest = seq(
  f('ei', 'reportRequestID', S),
  f(
    'ei',
    'reportSpecifier',
    seq(
      f('ei', 'reportSpecifierID', S),
      f('xcal', 'granularity', durationProp),
      f('ei', 'reportBackDuration', durationProp),
      opt('ei', 'reportInterval', seq(f('xcal', 'properties', properties))),
      many('ei', 'specifierPayload', specifierPayload, 1),
    ),
  ),
);
const oadrReportDescription = seq(
  f('ei', 'rID', S),
  opt('ei', 'reportSubject', eiTarget),
  opt('ei', 'reportDataSource', eiTarget),
  f('ei', 'reportType', en(REPORT_TYPES, true)),
  itemBase,
  f('ei', 'readingType', en(READING_TYPES, true)),
  opt('emix', 'marketContext', { t: 'uri' }),
  opt('oadr', 'oadrSamplingRate', seq(f('oadr', 'oadrMinPeriod', DUR), f('oadr', 'oadrMaxPeriod', DUR), f('oadr', 'oadrOnChange', B))),
);
export const oadrReport = seq(
  opt('xcal', 'dtstart', dtstart),
  opt('xcal', 'duration', durationProp),
  opt('strm', 'intervals', intervals),
  opt('ei', 'eiReportID', S),
  many('oadr', 'oadrReportDescription', oadrReportDescription),
  f('ei', 'reportRequestID', S),
  f('ei', 'reportSpecifierID', S),
  opt('ei', 'reportName', en(REPORT_NAMES, true)),
  f('ei', 'createdDateTime', DT),
);
const pendingReports = seq(many('ei', 'reportRequestID', S));
const oadrInfo = seq(f('oadr', 'oadrKey', S), f('oadr', 'oadrValue', S));

// ---- the payloads (children of oadrSignedObject) ----
const cancelReport = seq(f('pyld', 'requestID', S), many('ei', 'reportRequestID', S, 1), f('pyld', 'reportToFollow', B), opt('ei', 'venID', S));

export const MESSAGES = {
  oadrDistributeEvent: seq(
    opt('ei', 'eiResponse', eiResponse),
    f('pyld', 'requestID', S),
    f('ei', 'vtnID', S),
    many('oadr', 'oadrEvent', seq(f('ei', 'eiEvent', eiEvent), f('oadr', 'oadrResponseRequired', en(['always', 'never'])))),
  ),
  oadrCreatedEvent: seq(
    f(
      'pyld',
      'eiCreatedEvent',
      seq(
        f('ei', 'eiResponse', eiResponse),
        opt(
          'ei',
          'eventResponses',
          seq(
            many(
              'ei',
              'eventResponse',
              seq(f('ei', 'responseCode', { t: 'code' }), opt('ei', 'responseDescription', S), f('pyld', 'requestID', S), f('ei', 'qualifiedEventID', qualifiedEventID), f('ei', 'optType', en(OPT_TYPES))),
            ),
          ),
        ),
        f('ei', 'venID', S),
      ),
    ),
  ),
  oadrRequestEvent: seq(f('pyld', 'eiRequestEvent', seq(f('pyld', 'requestID', S), f('ei', 'venID', S), opt('pyld', 'replyLimit', U)))),
  oadrResponse: seq(f('ei', 'eiResponse', eiResponse), opt('ei', 'venID', S)),
  oadrCancelOpt: seq(f('pyld', 'requestID', S), f('ei', 'optID', S), f('ei', 'venID', S)),
  oadrCanceledOpt: seq(f('ei', 'eiResponse', eiResponse), opt('ei', 'optID', S)),
  oadrCreateOpt: seq(
    f('ei', 'optID', S),
    f('ei', 'optType', en(OPT_TYPES)),
    f('ei', 'optReason', en(OPT_REASONS, true)),
    opt('emix', 'marketContext', { t: 'uri' }),
    f('ei', 'venID', S),
    opt('xcal', 'vavailability', vavailability),
    f('ei', 'createdDateTime', DT),
    f('pyld', 'requestID', S),
    opt('ei', 'qualifiedEventID', qualifiedEventID),
    f('ei', 'eiTarget', eiTarget),
    opt('oadr', 'oadrDeviceClass', eiTarget),
  ),
  oadrCreatedOpt: seq(f('ei', 'eiResponse', eiResponse), f('ei', 'optID', S)),
  oadrCancelReport: cancelReport,
  oadrCanceledReport: seq(f('ei', 'eiResponse', eiResponse), f('oadr', 'oadrPendingReports', pendingReports), opt('ei', 'venID', S)),
  oadrCreateReport: seq(f('pyld', 'requestID', S), many('oadr', 'oadrReportRequest', oadrReportRequest, 1), opt('ei', 'venID', S)),
  oadrCreatedReport: seq(f('ei', 'eiResponse', eiResponse), f('oadr', 'oadrPendingReports', pendingReports), opt('ei', 'venID', S)),
  oadrRegisterReport: seq(f('pyld', 'requestID', S), many('oadr', 'oadrReport', oadrReport), opt('ei', 'venID', S), opt('ei', 'reportRequestID', S)),
  oadrRegisteredReport: seq(f('ei', 'eiResponse', eiResponse), many('oadr', 'oadrReportRequest', oadrReportRequest), opt('ei', 'venID', S)),
  oadrUpdateReport: seq(f('pyld', 'requestID', S), many('oadr', 'oadrReport', oadrReport), opt('ei', 'venID', S)),
  oadrUpdatedReport: seq(f('ei', 'eiResponse', eiResponse), opt('oadr', 'oadrCancelReport', cancelReport), opt('ei', 'venID', S)),
  oadrCancelPartyRegistration: seq(f('pyld', 'requestID', S), f('ei', 'registrationID', S), opt('ei', 'venID', S)),
  oadrCanceledPartyRegistration: seq(f('ei', 'eiResponse', eiResponse), opt('ei', 'registrationID', S), opt('ei', 'venID', S)),
  oadrCreatePartyRegistration: seq(
    f('pyld', 'requestID', S),
    opt('ei', 'registrationID', S),
    opt('ei', 'venID', S),
    f('oadr', 'oadrProfileName', en(['2.0a', '2.0b'])),
    f('oadr', 'oadrTransportName', en(['simpleHttp', 'xmpp'])),
    opt('oadr', 'oadrTransportAddress', S),
    f('oadr', 'oadrReportOnly', B),
    f('oadr', 'oadrXmlSignature', B),
    opt('oadr', 'oadrVenName', S),
    opt('oadr', 'oadrHttpPullModel', B),
  ),
  oadrCreatedPartyRegistration: seq(
    f('ei', 'eiResponse', eiResponse),
    opt('ei', 'registrationID', S),
    opt('ei', 'venID', S),
    f('ei', 'vtnID', S),
    f(
      'oadr',
      'oadrProfiles',
      seq(
        many(
          'oadr',
          'oadrProfile',
          seq(f('oadr', 'oadrProfileName', en(['2.0a', '2.0b'])), f('oadr', 'oadrTransports', seq(many('oadr', 'oadrTransport', seq(f('oadr', 'oadrTransportName', en(['simpleHttp', 'xmpp']))), 1)))),
          1,
        ),
      ),
    ),
    opt('oadr', 'oadrRequestedOadrPollFreq', durationProp),
    opt('oadr', 'oadrServiceSpecificInfo', seq(many('oadr', 'oadrService', seq(f('oadr', 'oadrServiceName', en(['EiEvent', 'EiOpt', 'EiReport', 'EiRegisterParty', 'OadrPoll'])), many('oadr', 'oadrInfo', oadrInfo, 1))))),
    opt('oadr', 'oadrExtensions', seq(many('oadr', 'oadrExtension', seq(f('oadr', 'oadrExtensionName', S), many('oadr', 'oadrInfo', oadrInfo))))),
  ),
  oadrRequestReregistration: seq(f('ei', 'venID', S)),
  oadrQueryRegistration: seq(f('pyld', 'requestID', S)),
  oadrPoll: seq(f('ei', 'venID', S)),
} satisfies Record<string, Complex>;

export type MessageName = keyof typeof MESSAGES;
export const MESSAGE_NAMES = Object.keys(MESSAGES) as MessageName[];

/** Which service endpoint takes which request (the simple HTTP binding's paths). */
export const SERVICE_OF: Partial<Record<MessageName, Service>> = {
  oadrQueryRegistration: 'EiRegisterParty',
  oadrCreatePartyRegistration: 'EiRegisterParty',
  oadrCancelPartyRegistration: 'EiRegisterParty',
  oadrCanceledPartyRegistration: 'EiRegisterParty',
  oadrRequestReregistration: 'EiRegisterParty',
  oadrRequestEvent: 'EiEvent',
  oadrCreatedEvent: 'EiEvent',
  oadrDistributeEvent: 'EiEvent',
  oadrRegisterReport: 'EiReport',
  oadrRegisteredReport: 'EiReport',
  oadrCreateReport: 'EiReport',
  oadrCreatedReport: 'EiReport',
  oadrUpdateReport: 'EiReport',
  oadrUpdatedReport: 'EiReport',
  oadrCancelReport: 'EiReport',
  oadrCanceledReport: 'EiReport',
  oadrCreateOpt: 'EiOpt',
  oadrCancelOpt: 'EiOpt',
  oadrCreatedOpt: 'EiOpt',
  oadrCanceledOpt: 'EiOpt',
  oadrPoll: 'OadrPoll',
  oadrResponse: 'EiEvent',
};
export const SERVICES = ['EiRegisterParty', 'EiEvent', 'EiReport', 'EiOpt', 'OadrPoll'] as const;
export type Service = (typeof SERVICES)[number];
