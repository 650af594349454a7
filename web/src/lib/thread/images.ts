// Images attached to a message: scaled in the browser so that the whole `turn/start` frame stays
// under Orbit's 1 MiB frame limit (protocol/src/limits.rs; a larger frame is refused, not cut),
// and sent inline as `data:` URLs. The arithmetic is pure and unit-tested; the canvas part runs
// in browsers only.

/** Orbit's largest frame, in bytes (`MAX_FRAME_BYTES`). */
export const MAX_FRAME_BYTES = 1024 * 1024;
/** Room kept free in a frame: the envelope Orbit rewrites, ids, and rounding. */
export const FRAME_MARGIN_BYTES = 8 * 1024;
/** The longest side an image is scaled to first (what vision models use at most). */
export const MAX_EDGE = 2048;
/** Below this, an image is no use: give up rather than send a smudge. */
export const MIN_EDGE = 160;
export const MAX_IMAGES = 8;
const FIRST_QUALITY = 0.85;
const MIN_QUALITY = 0.5;
const MAX_ATTEMPTS = 8;

export interface Size {
  width: number;
  height: number;
}

export interface EncodeAttempt extends Size {
  quality: number;
}

export interface EncodedImage extends Size {
  url: string;
}

const encoder = new TextEncoder();

/** UTF-8 size of a value as JSON: what it weighs in a frame. */
export function jsonBytes(value: unknown): number {
  return encoder.encode(JSON.stringify(value)).length;
}

/** Length of a base64 `data:` URL holding `bytes` bytes of `mime`. */
export function dataUrlLength(mime: string, bytes: number): number {
  return `data:${mime};base64,`.length + 4 * Math.ceil(bytes / 3);
}

/**
 * The room for each image's URL in a frame whose other parts (envelope, text, the image
 * objects with empty URLs) weigh `otherBytes`.
 */
export function imageBudget(otherBytes: number, images: number): number {
  if (images <= 0) return 0;
  const room = MAX_FRAME_BYTES - FRAME_MARGIN_BYTES - otherBytes;
  return Math.max(0, Math.floor(room / images));
}

/** `size` scaled down (never up) so that its longer side is at most `maxEdge`. */
export function fitWithin(size: Size, maxEdge: number = MAX_EDGE): Size {
  const longest = Math.max(size.width, size.height);
  if (longest <= maxEdge || longest === 0) return { width: size.width, height: size.height };
  const scale = maxEdge / longest;
  return {
    width: Math.max(1, Math.round(size.width * scale)),
    height: Math.max(1, Math.round(size.height * scale)),
  };
}

export function firstAttempt(size: Size): EncodeAttempt {
  return { ...fitWithin(size), quality: FIRST_QUALITY };
}

/**
 * The next try after an encoding came out `produced` long against a `budget`: encoded size
 * grows roughly with the pixel count, so the sides shrink by √(budget / produced), with a
 * tenth off to land under rather than just over, and the quality steps down a little. Null
 * when the image would become too small to be of use.
 */
export function nextAttempt(prev: EncodeAttempt, produced: number, budget: number): EncodeAttempt | null {
  if (produced <= budget) return prev;
  const scale = Math.min(0.9, Math.sqrt(budget / produced) * 0.9);
  const width = Math.round(prev.width * scale);
  const height = Math.round(prev.height * scale);
  if (Math.max(width, height) < MIN_EDGE) return null;
  return { width, height, quality: Math.max(MIN_QUALITY, prev.quality - 0.1) };
}

// ---- Browser part ----------------------------------------------------------------------------

export class ImageError extends Error {
  override readonly name = "ImageError";
}

const SENDABLE = new Set(["image/png", "image/jpeg", "image/webp", "image/gif"]);
let webpWorks: boolean | null = null;

/** The image as a `data:` URL of at most `budget` characters, scaled and re-encoded if needed. */
export async function encodeImage(file: Blob, budget: number): Promise<EncodedImage> {
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(file);
  } catch {
    throw new ImageError("This browser cannot read that image (try PNG or JPEG).");
  }
  try {
    const size = { width: bitmap.width, height: bitmap.height };
    // Small enough as it is: keep the original bytes (a screenshot stays crisp).
    if (SENDABLE.has(file.type) && fitWithin(size).width === size.width && dataUrlLength(file.type, file.size) <= budget) {
      return { url: await dataUrl(file), ...size };
    }
    let attempt: EncodeAttempt | null = firstAttempt(size);
    for (let i = 0; attempt && i < MAX_ATTEMPTS; i++) {
      const blob = await draw(bitmap, attempt);
      const length = dataUrlLength(blob.type, blob.size);
      if (length <= budget) return { url: await dataUrl(blob), width: attempt.width, height: attempt.height };
      attempt = nextAttempt(attempt, length, budget);
    }
    throw new ImageError("This image cannot be made small enough to send.");
  } finally {
    bitmap.close();
  }
}

async function draw(bitmap: ImageBitmap, attempt: EncodeAttempt): Promise<Blob> {
  const canvas = document.createElement("canvas");
  canvas.width = attempt.width;
  canvas.height = attempt.height;
  const ctx = canvas.getContext("2d");
  if (!ctx) throw new ImageError("This browser cannot scale images.");
  if (webpWorks !== false) {
    ctx.drawImage(bitmap, 0, 0, attempt.width, attempt.height);
    const webp = await toBlob(canvas, "image/webp", attempt.quality);
    // A browser that cannot write WebP hands back a PNG instead.
    webpWorks = webp.type === "image/webp";
    if (webpWorks) return webp;
  }
  // JPEG has no transparency: paint on white, not black.
  ctx.fillStyle = "#ffffff";
  ctx.fillRect(0, 0, attempt.width, attempt.height);
  ctx.drawImage(bitmap, 0, 0, attempt.width, attempt.height);
  return toBlob(canvas, "image/jpeg", attempt.quality);
}

function toBlob(canvas: HTMLCanvasElement, type: string, quality: number): Promise<Blob> {
  return new Promise((resolve, reject) =>
    canvas.toBlob((blob) => (blob ? resolve(blob) : reject(new ImageError("The image could not be encoded."))), type, quality),
  );
}

function dataUrl(blob: Blob): Promise<string> {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result));
    reader.onerror = () => reject(new ImageError("The image could not be read."));
    reader.readAsDataURL(blob);
  });
}

// ---- Fitting a message into one frame --------------------------------------------------------

/** An attached image: its current URL, and the file it came from (to scale it again). */
export interface Scalable {
  url: string;
  source: Blob;
}

/**
 * The image URLs to send with a message whose frame, given those URLs, weighs `frameBytes(urls)`:
 * as attached when the frame fits, else scaled again to share the room left by the text.
 * Throws ImageError when even the text alone is too large.
 */
export async function fitImages(images: Scalable[], frameBytes: (urls: string[]) => number): Promise<string[]> {
  const limit = MAX_FRAME_BYTES - FRAME_MARGIN_BYTES;
  const urls = images.map((i) => i.url);
  if (frameBytes(urls) <= limit) return urls;
  const other = frameBytes(images.map(() => ""));
  if (other > limit) throw new ImageError("This message is too long to send in one piece. Shorten it.");
  const budget = imageBudget(other, images.length);
  const fitted = await Promise.all(
    images.map(async (img) => (img.url.length <= budget ? img.url : (await encodeImage(img.source, budget)).url)),
  );
  if (frameBytes(fitted) > limit) throw new ImageError("This message is too large to send. Remove an image.");
  return fitted;
}
