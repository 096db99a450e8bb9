import { defineErrors } from '../../core/index.js';

/** Error codes of the OpenADR 3 VTN (listed in this plugin's README). */
export const Oa3Errors = defineErrors({
  GF_OA3_UNAUTHORIZED: { status: 401, title: 'Unauthorized' },
  GF_OA3_FORBIDDEN: { status: 403, title: 'Forbidden' },
  GF_OA3_NOT_FOUND: { status: 404, title: 'Not Found' },
  GF_OA3_CONFLICT: { status: 409, title: 'Conflict' },
  GF_OA3_BAD_REQUEST: { status: 400, title: 'Bad Request' },
  GF_OA3_TOKEN_REQUEST: { status: 400, title: 'Bad token request' },
  GF_OA3_INVALID_CLIENT: { status: 401, title: 'Client authentication failed' },
  GF_OA3_CALLBACK_REJECTED: { status: 400, title: 'Webhook callback URL rejected' },
  GF_OA3_NOT_IMPLEMENTED: { status: 501, title: 'Not Implemented' },
});
