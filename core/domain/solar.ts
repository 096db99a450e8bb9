/**
 * Sun position and clear-sky irradiance (NOAA's solar-position approximation, Haurwitz's clear-sky model):
 * enough for PV shapes, daylight covariates and performance ratios, with no weather data.
 */
const RAD = Math.PI / 180;

export interface Site {
  latitude: number;
  longitude: number;
}

/** Cosine of the solar zenith angle at a UTC instant (negative below the horizon). */
export function cosZenith(site: Site, utcMs: number): number {
  const d = utcMs / 86_400_000 + 2440587.5 - 2451545.0; // days since J2000
  const g = (357.529 + 0.98560028 * d) * RAD; // mean anomaly
  const q = 280.459 + 0.98564736 * d; // mean longitude
  const L = (q + 1.915 * Math.sin(g) + 0.02 * Math.sin(2 * g)) * RAD; // ecliptic longitude
  const e = (23.439 - 0.00000036 * d) * RAD;
  const decl = Math.asin(Math.sin(e) * Math.sin(L));
  const ra = Math.atan2(Math.cos(e) * Math.sin(L), Math.cos(L));
  const gmst = (18.697374558 + 24.06570982441908 * d) % 24; // hours
  const hourAngle = (gmst * 15 + site.longitude) * RAD - ra;
  const lat = site.latitude * RAD;
  return Math.sin(lat) * Math.sin(decl) + Math.cos(lat) * Math.cos(decl) * Math.cos(hourAngle);
}

/** Clear-sky global horizontal irradiance (W/m²), Haurwitz. */
export function clearSkyGhi(site: Site, utcMs: number): number {
  const c = cosZenith(site, utcMs);
  return c > 0 ? 1098 * c * Math.exp(-0.059 / c) : 0;
}

/** Mean clear-sky irradiance over an interval (sampled every 5 minutes). */
export function clearSkyMean(site: Site, startMs: number, resolutionS: number): number {
  const n = Math.max(1, Math.round(resolutionS / 300));
  let s = 0;
  for (let i = 0; i < n; i++) s += clearSkyGhi(site, startMs + ((i + 0.5) * resolutionS * 1000) / n);
  return s / n;
}

/** Share of the interval with the sun below the horizon (0..1): darkness drives evening lighting load. */
export function darkness(site: Site, startMs: number, resolutionS: number): number {
  const n = Math.max(1, Math.round(resolutionS / 300));
  let dark = 0;
  for (let i = 0; i < n; i++) if (cosZenith(site, startMs + ((i + 0.5) * resolutionS * 1000) / n) <= 0) dark++;
  return dark / n;
}
