/**
 * A static operator credential for tests that exercise other things than access (`server.apiTokens` is the
 * documented way to give scripts operator rights). Access itself is tested by test/access-matrix.test.ts.
 */
export const TEST_OPERATOR_TOKEN = 'gridflex-test-operator-token-0123456789';
export const OPERATOR = { authorization: `Bearer ${TEST_OPERATOR_TOKEN}` } as const;
/** Environment that gives a server (in process or a child) the test operator token. */
export const OPERATOR_ENV = { GRIDFLEX__server__apiTokens: JSON.stringify([TEST_OPERATOR_TOKEN]) } as const;
