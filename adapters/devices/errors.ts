import { defineErrors } from '../../core/index.js';

/** Error codes of the device bridges (listed in docs/devices.md). */
export const DeviceErrors = defineErrors({
  GF_DEVICE_UNREACHABLE: { status: 503, title: 'Device unreachable' },
  GF_DEVICE_TIMEOUT: { status: 504, title: 'Device did not answer in time' },
  GF_DEVICE_REFUSED: { status: 502, title: 'Device refused the request' },
  GF_DEVICE_BAD_MAP: { status: 400, title: 'Device map invalid' },
  GF_DEVICE_NOT_SUNSPEC: { status: 422, title: 'No SunSpec map found' },
  GF_DEVICE_UNKNOWN_POINT: { status: 400, title: 'Unknown point or model' },
});
