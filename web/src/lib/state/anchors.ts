// The user's anchors and whether each is online, from Orbit's control frames. No I/O.
import type { AnchorInfo } from "../protocol/AnchorInfo";
import type { Control } from "../protocol/Control";

/** Applies a control frame to the anchor list; returns the new list, or null when unchanged. */
export function applyPresence(list: AnchorInfo[], frame: Control): AnchorInfo[] | null {
  switch (frame.type) {
    case "orbit.anchors":
      return sortAnchors(frame.anchors);
    case "orbit.anchor-connected": {
      const others = list.filter((a) => a.anchorId !== frame.anchor.anchorId);
      return sortAnchors([...others, frame.anchor]);
    }
    case "orbit.anchor-disconnected":
      if (!list.some((a) => a.anchorId === frame.anchorId)) return null;
      return list.map((a) =>
        a.anchorId === frame.anchorId ? { ...a, online: false, lastSeenAt: Date.now() } : a,
      );
    default:
      return null;
  }
}

/** Online anchors first, then by name. */
export function sortAnchors(list: AnchorInfo[]): AnchorInfo[] {
  return [...list].sort(
    (a, b) => Number(b.online) - Number(a.online) || a.name.localeCompare(b.name),
  );
}
