"""Ghostscript as a subprocess: page geometry of a PDF and rasterizing one region of a page.

Only the requested region is rasterized, at the resolution it is output at: the output size is fixed
in pixels (`-dFIXEDMEDIA`) and the page is moved under it with a `/Install` translate. An A1 sheet
at 300 dpi would be ≈ 420 MB of pixels; a 2000-px region is 12 MB and a fraction of the time.
`render_fitted` measures the page and renders in one run (`region.ps`), so a cold render costs one
Ghostscript start-up, not two.

`subprocess` is looked up at call time, so under gunicorn's gevent worker (which patches it) waiting
for Ghostscript yields to other greenlets instead of blocking the hub.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

from webapp.evidence.errors import RenderError
from webapp.evidence.regions import BBox

ANTIALIAS_OPTIONS = ("-dTextAlphaBits=4", "-dGraphicsAlphaBits=4")
BASE_OPTIONS = ("-q", "-dSAFER", "-dBATCH", "-dNOPAUSE", "-dNOPROMPT", "-dUseCropBox")

# Prints the page count and, for page `PageNum`, its MediaBox, CropBox and Rotate. Lines are
# prefixed so that warnings the PDF interpreter prints on stdout cannot be mistaken for answers.
PROBE_PROGRAM = (
    "InputFile (r) file runpdfbegin "
    "/AZDpages pdfpagecount def (AZD PAGES ) print AZDpages = "
    "PageNum 1 ge PageNum AZDpages le and { "
    "PageNum pdfgetpage "
    "dup /MediaBox pget { (AZD MEDIA ) print == } if "
    "dup /CropBox pget { (AZD CROP ) print == } if "
    "/Rotate pget { (AZD ROTATE ) print = } if "
    "} if quit"
)

REGION_PROGRAM = Path(__file__).with_name("region.ps")
_PLAN_RE = re.compile(r"^AZD PLAN (\d+) (\d+) (\S+) (\S+) (\S+) (\d+)\s*$", re.MULTILINE)
_NOPAGE_RE = re.compile(r"^AZD NOPAGE (\d+)\s*$", re.MULTILINE)
_STACK_DUMP_START = ("Operand stack", "Execution stack", "Dictionary stack")
_NOISE = ("Output may be incorrect.", "Current allocation mode", "Last OS error")
_PATH_RE = re.compile(r"(?:/[\w.\-+@%~]+){2,}/?")


@dataclass(frozen=True)
class PdfPage:
    """A page's size as displayed (CropBox within MediaBox, /Rotate applied), in points."""

    width_pt: float
    height_pt: float
    page_count: int


@dataclass(frozen=True)
class FittedRender:
    """A region rendered by `render_fitted`: binary PPM, its size and dpi, and the page measured."""

    ppm: bytes
    width: int
    height: int
    dpi: float
    page: PdfPage


VERSION_TIMEOUT = 2.5  # seconds; within readiness's own bound (3 s)


class Ghostscript:
    """Runs `gs`; counts invocations (`probes`, `renders`) so callers can observe single flight."""

    def __init__(self, binary: str = "gs", timeout: float = 60.0, antialias: bool = True) -> None:
        self.binary = binary
        self.timeout = timeout
        self.antialias = antialias
        self.probes = 0
        self.renders = 0
        self._count_lock = threading.Lock()

    def version(self) -> str:
        """`gs --version`: Ghostscript starts and answers (readiness asks this)."""
        try:
            result = subprocess.run(
                [self._executable(), "--version"],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=min(self.timeout, VERSION_TIMEOUT),
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise RenderError(
                f"Ghostscript did not answer `gs --version` within {VERSION_TIMEOUT:g} s"
            ) from None
        except OSError as exc:
            raise RenderError(f"Ghostscript could not be started ({exc.strerror}).") from None
        if result.returncode != 0:
            raise RenderError(
                f"Ghostscript failed `gs --version` (exit code {result.returncode})"
                + _excerpt_suffix(result.stderr + result.stdout, Path("."))
            )
        return result.stdout.decode("latin-1", "replace").strip()

    def probe(self, path: Path, page: int = 1) -> PdfPage:
        """Read the displayed size of `page` (1-based) and the page count of a PDF."""
        path = Path(path)
        args = [
            self._executable(),
            "-q",
            "-dNODISPLAY",
            "-dSAFER",
            "-dBATCH",
            "-dNOPAUSE",
            f"-sInputFile={path}",
            f"-dPageNum={int(page)}",
            f"--permit-file-read={path}",
            "-c",
            PROBE_PROGRAM,
        ]
        with self._count_lock:
            self.probes += 1
        result = self._run(args, path, "read")
        return _parse_probe(result.stdout.decode("latin-1", "replace"), page, result.stderr, path)

    def render_fitted(
        self, path: Path, page: int, box: BBox, dpi: float, max_side: int, max_pixels: int
    ) -> FittedRender:
        """Rasterize `box` of `page` at `dpi`, lowered so the image fits `max_side`/`max_pixels`.

        One Ghostscript run measures the page and renders (see region.ps); the size and dpi it
        chose come back with the pixels.
        """
        path = Path(path)
        args = [
            self._executable(),
            *BASE_OPTIONS,
            "-dFIXEDMEDIA",
            "-sDEVICE=ppmraw",
            *(ANTIALIAS_OPTIONS if self.antialias else ()),
            "-sstdout=%stderr",
            f"-sInputFile={path}",
            f"--permit-file-read={path}",
            f"-dPageNum={int(page)}",
            f"-dAZDx1={box.x1:.9f}",
            f"-dAZDy1={box.y1:.9f}",
            f"-dAZDx2={box.x2:.9f}",
            f"-dAZDy2={box.y2:.9f}",
            f"-dAZDdpi={float(dpi):.6f}",
            f"-dAZDside={int(max_side)}",
            f"-dAZDpixels={int(max_pixels)}",
            "-o",
            "-",
            str(REGION_PROGRAM),
        ]
        with self._count_lock:
            self.renders += 1
        result = self._run(args, path, "render")
        messages = result.stderr.decode("latin-1", "replace")
        missing = _NOPAGE_RE.search(messages)
        if missing:
            _raise_no_page(int(missing.group(1)), page, result.stderr, path)
        plan = _PLAN_RE.search(messages)
        size = _ppm_size(result.stdout)
        if plan is None or size is None or len(result.stdout) < size[0] * size[1] * 3:
            raise RenderError(
                "Ghostscript produced no image for the crop PDF"
                + _excerpt_suffix(result.stderr, path)
            )
        _, _, dpi_text, width_text, height_text, pages_text = plan.groups()
        measured = PdfPage(float(width_text), float(height_text), int(pages_text))
        return FittedRender(result.stdout, size[0], size[1], float(dpi_text), measured)

    def render_region(
        self,
        path: Path,
        page: int,
        page_size: tuple[float, float],
        box: BBox,
        width: int,
        height: int,
    ) -> bytes:
        """Rasterize `box` of `page` to a `width`×`height` binary PPM (RGB), nothing else.

        The caller measured the page (`probe`) and chose the size: two Ghostscript runs in all.
        Kept as the plain command-line form of the same rendering (benchmark floor, tests).
        """
        path = Path(path)
        page_w, page_h = page_size
        region_w_pt = box.width * page_w
        region_h_pt = box.height * page_h
        x_res = width * 72.0 / region_w_pt
        y_res = height * 72.0 / region_h_pt
        # PostScript's origin is bottom-left: move the region's bottom-left corner to the origin.
        shift_x = -box.x1 * page_w
        shift_y = -(1.0 - box.y2) * page_h
        args = [
            self._executable(),
            *BASE_OPTIONS,
            "-sDEVICE=ppmraw",
            f"-r{x_res:.6f}x{y_res:.6f}",
            f"-g{width}x{height}",
            "-dFIXEDMEDIA",
            *(ANTIALIAS_OPTIONS if self.antialias else ()),
            f"-sPageList={int(page)}",
            "-sstdout=%stderr",
            "-o",
            "-",
            "-c",
            f"<</Install {{{shift_x:.6f} {shift_y:.6f} translate}}>> setpagedevice",
            "-f",
            str(path),
        ]
        with self._count_lock:
            self.renders += 1
        result = self._run(args, path, "render")
        expected = width * height * 3
        if len(result.stdout) < expected:
            raise RenderError(
                "Ghostscript produced no image for the crop PDF"
                + _excerpt_suffix(result.stderr, path)
            )
        return result.stdout

    def _executable(self) -> str:
        found = shutil.which(self.binary)
        if not found:
            raise RenderError(
                "Ghostscript (gs) is not installed on the server: PDF crops cannot be rendered."
            )
        return found

    def _run(self, args: list[str], path: Path, action: str) -> subprocess.CompletedProcess:
        try:
            result = subprocess.run(
                args,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=self.timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise RenderError(
                f"Ghostscript did not {action} the crop PDF within {self.timeout:g} s (stopped)."
            ) from None
        except OSError as exc:
            raise RenderError(f"Ghostscript could not be started ({exc.strerror}).") from None
        if result.returncode != 0:
            raise RenderError(
                f"Ghostscript could not {action} the crop PDF (exit code {result.returncode})"
                + _excerpt_suffix(result.stderr + result.stdout, path)
            )
        return result


def stderr_excerpt(text: bytes | str, path: Path | None = None, limit: int = 240) -> str:
    """The meaningful lines of Ghostscript's messages, without stack dumps or server paths."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    if path is not None:
        text = text.replace(str(path), "<crop>").replace(str(Path(path).parent), "<dir>")
    kept: list[str] = []
    for raw_line in text.splitlines():
        line = raw_line.strip().strip("*").strip()
        if line.startswith(_STACK_DUMP_START):
            break
        if not line or line.startswith(_NOISE) or line.startswith("AZD "):
            continue
        line = re.sub(r"^GPL Ghostscript [\d.]+:\s*", "", line)
        line = _PATH_RE.sub("<path>", line)
        if line not in kept:
            kept.append(line)
    excerpt = "; ".join(kept)
    return excerpt if len(excerpt) <= limit else excerpt[: limit - 1] + "…"


def _excerpt_suffix(text: bytes, path: Path) -> str:
    excerpt = stderr_excerpt(text, path)
    return f": {excerpt}" if excerpt else "."


def _parse_probe(stdout: str, page: int, stderr: bytes, path: Path) -> PdfPage:
    fields: dict[str, str] = {}
    for line in stdout.splitlines():
        if line.startswith("AZD "):
            name, _, value = line[4:].partition(" ")
            fields[name] = value.strip()
    messages = _excerpt_suffix(stderr + stdout.encode("latin-1", "replace"), path)
    try:
        page_count = int(fields.get("PAGES", "0"))
    except ValueError:
        page_count = 0
    if not 1 <= page <= page_count:
        _raise_no_page(page_count, page, stderr + stdout.encode("latin-1", "replace"), path)
    media = _box(fields.get("MEDIA"))
    if media is None:
        raise RenderError("The crop PDF's page has no usable MediaBox" + messages)
    crop = _box(fields.get("CROP"))
    if crop is not None:
        crop = (
            max(crop[0], media[0]),
            max(crop[1], media[1]),
            min(crop[2], media[2]),
            min(crop[3], media[3]),
        )
        if crop[2] - crop[0] <= 0 or crop[3] - crop[1] <= 0:
            crop = None
    left, bottom, right, top = crop or media
    width, height = right - left, top - bottom
    try:
        rotate = int(float(fields.get("ROTATE", "0"))) % 360
    except ValueError:
        rotate = 0
    if rotate in (90, 270):
        width, height = height, width
    if width < 1 or height < 1:
        raise RenderError("The crop PDF's page has no area.")
    return PdfPage(width_pt=width, height_pt=height, page_count=page_count)


def _raise_no_page(page_count: int, page: int, messages: bytes, path: Path) -> None:
    if page_count < 1:
        raise RenderError(
            "The crop PDF is empty or corrupt (no readable page)" + _excerpt_suffix(messages, path)
        )
    raise RenderError(f"The crop PDF has {page_count} page(s); page {page} does not exist.")


def _ppm_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from a binary PPM header (comments allowed), or None."""
    if not data.startswith(b"P6"):
        return None
    numbers: list[int] = []
    for line in data[2:512].split(b"\n"):
        line = line.split(b"#", 1)[0]
        for token in line.split():
            if not token.isdigit():
                return None
            numbers.append(int(token))
            if len(numbers) == 2:
                return numbers[0], numbers[1]
    return None


def _box(text: str | None) -> tuple[float, float, float, float] | None:
    if not text:
        return None
    numbers = re.findall(r"-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|-?\.\d+", text)
    if len(numbers) != 4:
        return None
    x1, y1, x2, y2 = (float(n) for n in numbers)
    return min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)
