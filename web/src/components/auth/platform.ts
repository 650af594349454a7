// An anchor's platform as it reports it (Rust's `std::env::consts`: "linux", "macos",
// "windows", or "linux-x86_64" once running) in the words people use.

const SYSTEMS: Record<string, string> = {
  linux: "Linux",
  macos: "macOS",
  windows: "Windows",
  freebsd: "FreeBSD",
  openbsd: "OpenBSD",
  netbsd: "NetBSD",
  android: "Android",
  ios: "iOS",
};

/** "Linux", "macOS (aarch64)", or what was reported; null when nothing was. */
export function platformName(platform: string | null | undefined): string | null {
  const p = platform?.trim();
  if (!p) return null;
  const [os = "", ...arch] = p.split("-");
  const system = SYSTEMS[os.toLowerCase()];
  if (!system) return p;
  return arch.length ? `${system} (${arch.join("-")})` : system;
}
