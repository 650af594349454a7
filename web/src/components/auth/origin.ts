// Where a pairing request came from, in words (docs/web.md, Device approval). Orbit recorded it
// when the code was asked for, from what the requester cannot choose: Cloudflare's view of the
// connection and the client address. A stranger can call a machine "Alice's MacBook"; they
// cannot make their request come from Alice's network.
import type { DeviceOrigin } from "../../lib/protocol/DeviceOrigin";

/** "Austin, US", "US", or "an unknown place". */
export function placeWords(origin: DeviceOrigin): string {
  const parts = [origin.city, origin.country].filter((p): p is string => !!p);
  return parts.length > 0 ? parts.join(", ") : "an unknown place";
}

/** "Example Telecom (AS64500)", "AS64500", or "an unknown network". */
export function networkWords(origin: DeviceOrigin): string {
  const asn = origin.asn ? `AS${origin.asn}` : null;
  if (origin.network) return asn ? `${origin.network} (${asn})` : origin.network;
  return asn ?? "an unknown network";
}

/** The origin line: "Requested about 2 minutes ago from Austin, US, on Example Telecom (AS64500),
 * address 203.0.113.7." `ago` is {@link agoWords}'s. */
export function originLine(origin: DeviceOrigin, ago: string): string {
  const address = origin.address ? `, address ${origin.address}` : "";
  return `Requested ${ago} from ${placeWords(origin)}, on ${networkWords(origin)}${address}.`;
}
