// Keeps the thread view (and so its composer, at the bottom) inside the part of the screen the
// reader can see. The page asks for `interactive-widget=resizes-content`, so where that is
// supported an on-screen keyboard shrinks the layout and this is plain sizing. Where it is not
// (Safari on iOS, older browsers) the keyboard only shrinks the *visual* viewport and would
// cover a bottom-anchored composer: the height is then taken from `visualViewport`.
// The height is set through CSSOM (`style.height`), which the Content-Security-Policy allows.

/** Below this the view stops shrinking (a landscape phone with its keyboard open). */
const MIN_HEIGHT = 220;

/** Svelte action: sizes `node` from its top down to the bottom of the visible viewport. */
export function fillVisibleViewport(node: HTMLElement): { destroy(): void } {
  const vv = typeof window !== "undefined" ? window.visualViewport : null;
  let frame = 0;
  const update = () => {
    frame = 0;
    const top = node.getBoundingClientRect().top;
    // The visible bottom, in the same (layout viewport) coordinates as `top`.
    const bottom = vv ? vv.offsetTop + vv.height : window.innerHeight;
    const parent = node.parentElement;
    const below = parent ? parseFloat(getComputedStyle(parent).paddingBottom) || 0 : 0;
    const height = Math.max(MIN_HEIGHT, Math.floor(bottom - top - below));
    const value = `${height}px`;
    if (node.style.height !== value) node.style.height = value;
  };
  const schedule = () => {
    if (!frame) frame = requestAnimationFrame(update);
  };
  update();
  vv?.addEventListener("resize", schedule);
  vv?.addEventListener("scroll", schedule);
  window.addEventListener("resize", schedule);
  // Whatever sits above the view (the reconnect banner) moves its top.
  const observer = typeof ResizeObserver === "undefined" ? null : new ResizeObserver(schedule);
  observer?.observe(document.body);
  return {
    destroy() {
      if (frame) cancelAnimationFrame(frame);
      vv?.removeEventListener("resize", schedule);
      vv?.removeEventListener("scroll", schedule);
      window.removeEventListener("resize", schedule);
      observer?.disconnect();
    },
  };
}
