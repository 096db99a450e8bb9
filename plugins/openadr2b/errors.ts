import { defineErrors } from '../../core/index.js';

/** Error codes of the OpenADR 2.0b VTN's operator API (listed in this plugin's README). */
export const Oa2Errors = defineErrors({
  GF_OA2B_NOT_FOUND: { status: 404, title: 'Not Found' },
  GF_OA2B_CONFLICT: { status: 409, title: 'Conflict' },
  GF_OA2B_INVALID: { status: 400, title: 'Invalid request' },
  GF_OA2B_TLS_CONFIG: { status: 500, title: 'TLS configuration unusable' },
});

/**
 * eiResponse codes (OpenADR 2.0b profile specification, response codes table). 200 is OK; 4xx the
 * requester's fault.
 */
export const ResponseCode = {
  OK: '200',
  BAD_REQUEST: '400',
  OUT_OF_SEQUENCE: '450',
  NOT_ALLOWED: '451',
  INVALID_ID: '452',
  NOT_RECOGNIZED: '453',
  INVALID_DATA: '454',
  COMPLIANCE_ERROR: '459',
  SIGNAL_NOT_SUPPORTED: '460',
  REPORT_NOT_SUPPORTED: '461',
  TARGET_MISMATCH: '462',
  NOT_REGISTERED_OR_AUTHORIZED: '463',
  DEPLOYMENT_ERROR: '469',
} as const;
export type ResponseCodeValue = (typeof ResponseCode)[keyof typeof ResponseCode];

/** A refusal answered in protocol terms (an oadrResponse or the service's own response with this code). */
export class Oa2Refusal extends Error {
  constructor(
    readonly code: ResponseCodeValue,
    message: string,
    readonly httpStatus = 200,
  ) {
    super(message);
  }
}
