"""Training data from a Hugging Face Hub dataset: `hub:owner/name` (or `hub:owner/name@revision`),
fetched through huggingface_hub's cache (HF_HOME, HF_HUB_OFFLINE behave as usual), in the two
layouts the community shares unpaired data in:
- an image folder repo: trainA/ trainB/ (testA/ testB/), or A/ B/, at the top or one or two
  folders down (data/trainA/ ...): read exactly like a local folder;
- parquet files (what `datasets.push_to_hub` writes, e.g. huggan/horse2zebra's
  data/train-00000-of-00001.parquet): either two image columns (huggan's `imageA`, `imageB`) or
  one image column and a label column with two values (an image folder pushed with its
  folder names as labels). Their images are unpacked once into the run's data folder and then
  read like a local folder, so every image is checked up front the same way.

Domain names come from the label names, or from a repo name like horse2zebra (horse, zebra).
Parquet is read with pyarrow, a batch of rows at a time; a repo's download is bounded by
CYCLEGAN_MAX_HUB_DATASET_MB (asked of the Hub before downloading) and the unpacked images by
the zip limits (entries, bytes).
"""
from __future__ import annotations

import json
import re
import shutil
import tempfile
from pathlib import Path

from . import hub, limits
from .archive import is_hidden
from .errors import UserInputError
from .images import IMAGE_EXTENSIONS

PREFIX = "hub:"
PATTERNS = sorted({f"*{e}" for e in IMAGE_EXTENSIONS} | {f"*{e.upper()}" for e in IMAGE_EXTENSIONS}
                  | {"*.parquet", "*domains.json"})
COMMIT = re.compile(r"[0-9a-f]{40}")
PAIR_NAMES = (("imagea", "imageb"), ("image_a", "image_b"), ("a", "b"), ("domain_a", "domain_b"), ("src", "tgt"))
LABEL_NAMES = ("label", "labels", "domain", "class", "category")


def parse(source: str) -> tuple[str, str | None]:
    """'hub:owner/name@rev' -> ('owner/name', 'rev')."""
    text = str(source)[len(PREFIX):] if str(source).startswith(PREFIX) else str(source)
    repo, _, revision = text.strip().partition("@")
    repo = repo.strip()
    if not hub.is_repo_id(repo):
        raise UserInputError(f"'{text}' is not a Hub dataset id: expected hub:owner/name (or hub:owner/name@revision)")
    return repo, (revision.strip() or None)


def fetch(source: str, token: str | bool | None = None, cache_only: bool = False) -> tuple[Path, str]:
    """(local snapshot folder, 'owner/name@commit') of a Hub dataset. A pinned commit already in
    the cache is used without asking the Hub; otherwise its size is checked first.
    `token`: None = huggingface_hub's default (your own login), False = anonymous, or a token."""
    repo, revision = parse(source)
    if revision and COMMIT.fullmatch(revision) and not cache_only:
        try:
            folder = hub.download(repo, PATTERNS, revision, repo_type="dataset", local_only=True)
            return folder, f"{repo}@{folder.name}"
        except UserInputError:
            pass
    if not cache_only:
        size = hub.remote_size(repo, PATTERNS, revision, "dataset", token)
        limit = limits.current().max_hub_dataset_mb
        if size is not None and size[0] > limit * 1_000_000:
            raise UserInputError(f"Hub dataset '{repo}' has {size[0] / 1e6:.0f} MB of images and parquet files, over "
                                 f"this server's limit of {limit} MB (CYCLEGAN_MAX_HUB_DATASET_MB)")
        if size is not None and revision is None:
            revision = size[1]          # download exactly the commit that was measured
    folder = hub.download(repo, PATTERNS, revision, repo_type="dataset", token=token, local_only=cache_only)
    return folder, f"{repo}@{folder.name}"


def prepare(source: str, split: str, workdir=None, token=None,
            cache_only: bool = False) -> tuple[Path, str, tuple[str, str] | None, Path | None]:
    """A Hub dataset as a local folder cyclegan/data.py reads like any other: (the folder holding
    {split}A/ + {split}B/, how to name the source in messages, domain names when the repo's
    folders say only A and B, a folder of unpacked images the caller owns or None)."""
    folder, pinned = fetch(source, token, cache_only)
    repo = pinned.split("@")[0]
    shown = f"'hub:{repo}'"
    parquets = [p for p in sorted(folder.rglob("*.parquet")) if not _hidden(p, folder)]
    if not parquets:
        root = _image_root(folder, split)
        if root is None:
            raise UserInputError(f"Hub dataset '{repo}' has no images: no parquet files and no {split}A/ {split}B/ "
                                 f"(or A/ B/) image folders; it holds: {_listing(folder)}")
        return root, shown, _names_from_repo(repo), None
    files = _split_files(parquets, folder, split, repo)
    if workdir is not None:
        Path(workdir).mkdir(parents=True, exist_ok=True)
    dest = Path(tempfile.mkdtemp(prefix=f"hub-{repo.split('/')[1][:30]}-", dir=workdir))
    try:
        _unpack_parquet(files, folder, dest, split, repo)
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    return dest, shown, None, dest


def _hidden(path: Path, root: Path) -> bool:
    return any(is_hidden(part) for part in path.relative_to(root).parts)


def _listing(folder: Path) -> str:
    files = [str(p.relative_to(folder)) for p in sorted(folder.rglob("*")) if p.is_file()]
    return ", ".join(files[:8]) + (", ..." if len(files) > 8 else "") if files else "no images or parquet files"


def _image_root(folder: Path, split: str) -> Path | None:
    """The folder holding trainA/ + trainB/ (or A/ + B/): the snapshot or a folder one or two levels down."""
    wanted = ({f"{split}a", f"{split}b"}, {"a", "b"})
    candidates = [folder] + sorted(p for p in folder.rglob("*") if p.is_dir() and len(p.relative_to(folder).parts) <= 2
                                   and not _hidden(p, folder))
    for cand in candidates:
        names = {p.name.lower() for p in cand.iterdir() if p.is_dir()}
        if any(w <= names for w in wanted):
            return cand
    return None


def _split_files(parquets: list[Path], folder: Path, split: str, repo: str) -> list[Path]:
    """The parquet files of a split: those whose path names it (data/train-00000-of-00001.parquet,
    default/train/0000.parquet); if no file names any split, all of them are training data."""
    def names(p: Path, s: str) -> bool:
        return re.search(rf"(^|[/_.-]){s}([/_.-]|$)", str(p.relative_to(folder)).lower()) is not None
    chosen = [p for p in parquets if names(p, split)]
    if chosen:
        return chosen
    if split == "train" and not any(names(p, s) for p in parquets for s in ("test", "validation", "valid")):
        return parquets
    raise UserInputError(f"Hub dataset '{repo}' has no '{split}' parquet files: found "
                         + ", ".join(str(p.relative_to(folder)) for p in parquets[:6]))


def _names_from_repo(repo: str) -> tuple[str, str] | None:
    """horse2zebra -> (horse, zebra); summer2winter_yosemite -> (summer, winter_yosemite)."""
    parts = re.split(r"2|_to_|-to-", repo.split("/")[1], maxsplit=1)
    if len(parts) == 2 and all(re.fullmatch(r"[A-Za-z][\w-]*", p) for p in parts) and parts[0] != parts[1]:
        return parts[0], parts[1]
    return None


def _features(schema) -> dict:
    """The `datasets` feature descriptions a parquet file carries in its metadata, if any."""
    try:
        meta = json.loads((schema.metadata or {}).get(b"huggingface", b"{}"))
        return meta.get("info", {}).get("features", {}) or {}
    except (ValueError, AttributeError):
        return {}


def _is_image_field(field, features: dict) -> bool:
    import pyarrow as pa
    if isinstance(features.get(field.name), dict) and features[field.name].get("_type") == "Image":
        return True
    t = field.type
    return pa.types.is_struct(t) and t.get_field_index("bytes") >= 0 and pa.types.is_binary(t.field("bytes").type)


def _layout(schema, repo: str, rel: str) -> tuple[str, str | None, str | None, tuple[str, str]]:
    """(image column A or the only image column, image column B or None, label column or None, names)."""
    features = _features(schema)
    images = [f.name for f in schema if _is_image_field(f, features)]
    if len(images) >= 2:
        lower = {c.lower(): c for c in images}
        pair = next(((lower[a], lower[b]) for a, b in PAIR_NAMES if a in lower and b in lower), (images[0], images[1]))
        generic = pair[0].lower() in {p[0] for p in PAIR_NAMES}
        names = (_names_from_repo(repo) or ("A", "B")) if generic else pair
        return pair[0], pair[1], None, names
    if len(images) == 1:
        labels = [f.name for f in schema if f.name.lower() in LABEL_NAMES]
        if labels:
            names = features.get(labels[0], {}).get("names") if isinstance(features.get(labels[0]), dict) else None
            return images[0], None, labels[0], tuple(names) if names else ()
        raise UserInputError(f"'{rel}' in Hub dataset '{repo}' has one image column ({images[0]!r}) but no label "
                             f"column ({', '.join(LABEL_NAMES)}) to split it into two domains")
    raise UserInputError(f"'{rel}' in Hub dataset '{repo}' has no image column: its columns are "
                         + ", ".join(f"{f.name} ({f.type})" for f in schema))


def _image_bytes(value) -> tuple[bytes | None, str]:
    if isinstance(value, dict):
        return value.get("bytes"), str(value.get("path") or "")
    if isinstance(value, (bytes, bytearray)):
        return bytes(value), ""
    return None, ""


def _unpack_parquet(files: list[Path], folder: Path, dest: Path, split: str, repo: str) -> None:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise UserInputError("parquet datasets need pyarrow: pip install pyarrow "
                             "(or 'cyclegan-studio[hub]')") from None
    lim = limits.current()
    out = {"A": dest / f"{split}A", "B": dest / f"{split}B"}
    for d in out.values():
        d.mkdir(parents=True)
    counts, written, names, label_values = {"A": 0, "B": 0}, 0, None, []
    for path in files:
        rel = str(path.relative_to(folder))
        try:
            pf = pq.ParquetFile(path)
            col_a, col_b, label, file_names = _layout(pf.schema_arrow, repo, rel)
            names = names or file_names
            columns = [c for c in (col_a, col_b, label) if c]
            for batch in pf.iter_batches(batch_size=64, columns=columns):
                rows = batch.to_pydict()
                for i in range(batch.num_rows):
                    if label:
                        side = _side(rows[label][i], label_values, names, rel, repo)
                        pairs = [(side, rows[col_a][i])] if side else []
                    else:
                        pairs = [("A", rows[col_a][i]), ("B", rows[col_b][i])]
                    for side, value in pairs:
                        data, name = _image_bytes(value)
                        if not data:
                            continue
                        counts[side] += 1
                        written += len(data)
                        if counts["A"] + counts["B"] > lim.max_zip_entries or written > lim.max_zip_bytes:
                            raise UserInputError(
                                f"Hub dataset '{repo}' holds more images than this server unpacks "
                                f"({lim.max_zip_entries} images, {lim.max_zip_bytes} bytes: CYCLEGAN_MAX_ZIP_ENTRIES, "
                                "CYCLEGAN_MAX_ZIP_BYTES)")
                        suffix = Path(name).suffix.lower()
                        suffix = suffix if suffix in IMAGE_EXTENSIONS else ".png"
                        (out[side] / f"{counts[side]:06d}{suffix}").write_bytes(data)
        except (pa.ArrowException, OSError) as e:
            msg = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise UserInputError(f"'{rel}' in Hub dataset '{repo}' is not a readable parquet file: {msg}") from None
    if label and not names:
        names = tuple(str(v) for v in label_values)
        if all(n.isdigit() for n in names):
            names = _names_from_repo(repo) or ("A", "B")
    if names and len(names) == 2 and names[0] != names[1]:
        (dest / "domains.json").write_text(json.dumps({"A": str(names[0]), "B": str(names[1])}))


def _side(value, seen: list, names, rel: str, repo: str) -> str | None:
    """Which domain a label puts a row in: a class index 0 / 1 (the `datasets` ClassLabel
    convention; names from the metadata), or for text labels the first and second distinct value
    met. A third label is an error: unpaired training has two domains."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        if value in (0, 1) and len(names or ()) in (0, 2):
            return "AB"[value]
        shown = ", ".join(map(str, names)) if names else f"index {value}"
        raise UserInputError(f"'{rel}' in Hub dataset '{repo}' has more than two labels ({shown}); "
                             "unpaired training needs exactly two")
    if value not in seen:
        if len(seen) == 2:
            raise UserInputError(f"'{rel}' in Hub dataset '{repo}' has more than two labels ({seen[0]!r}, {seen[1]!r}, "
                                 f"{value!r}, ...); unpaired training needs exactly two")
        seen.append(value)
    return "AB"[seen.index(value)]
