"""Files for which ckpt-tui could show one thing while torch.load loads another, each judged by the oracle
(tests/oracle.py: torch.load(weights_only=True) in a child process). Every case must be identical to torch or
refused by ckpt-tui with a clear error, and most say which of the two it must be."""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

import pytest

from ckpt_tui.errors import CkptError
from ckpt_tui.formats import read_checkpoint
from tests.oracle import Verdict, compare_files
from tests.zipcraft import (
    Item,
    build_zip,
    call,
    floats,
    g,
    i,
    legacy,
    legacy_root,
    legacy_view,
    mapping,
    pickle_of,
    s,
    storage,
    tar_polyglot,
    tensor,
    torch_items,
)

SAMPLES = Path(__file__).resolve().parents[2] / "sample_checkpoints"
BENIGN = pickle_of(mapping([(s("w"), tensor(storage("0", 2), 0, (2,), (1,)))]))
EVIL = pickle_of(
    mapping([(s("w"), tensor(storage("0", 2), 0, (2,), (1,))), (s("x"), call(g("os", "system"), s("true")))])
)
DATA = {"0": floats(1.0, 2.0)}


def zip_of(items: list[Item], order: list[int] | None = None) -> bytes:
    return build_zip(items, order)


def case_dup_by_case() -> bytes:
    items = torch_items(BENIGN, DATA)
    items.insert(1, Item(b"archive/DATA.PKL", EVIL))
    return zip_of(items)


def case_nul_name() -> bytes:
    items = torch_items(BENIGN, DATA)
    items.insert(1, Item(b"archive/data.pkl\0evil", EVIL))
    return zip_of(items)


def case_directory_points_past_first_header() -> bytes:
    """The first local header says archive/data.pkl (benign); the directory's archive/data.pkl is another one."""
    items = torch_items(BENIGN, DATA)
    items[0].in_directory = False
    items.append(Item(b"archive/data.pkl", pickle_of(mapping([(s("shown"), tensor(storage("0", 2), 1, (1,), (1,)))]))))
    return zip_of(items)


def case_local_name_lies() -> bytes:
    items = torch_items(BENIGN, DATA)
    items[0].local_name = b"archive/xxxx.pkl"
    return zip_of(items)


def case_member_outside_folder() -> bytes:
    items = torch_items(BENIGN, DATA)
    items.append(Item(b"other/data.pkl", EVIL))
    return zip_of(items)


def case_deflated_data_pkl() -> bytes:
    items = torch_items(BENIGN, DATA)
    items[0].deflate = True
    return zip_of(items)


def case_storage_by_other_case() -> bytes:
    body = pickle_of(mapping([(s("w"), tensor(storage("a", 2), 0, (2,), (1,)))]))
    return zip_of(torch_items(body, {"A": floats(3.0, 4.0)}))


def case_byteorder_big() -> bytes:
    return zip_of(torch_items(BENIGN, {"0": struct.pack(">2f", 1.0, 2.0)}, byteorder=b"big"))


def case_byteorder_unknown() -> bytes:
    return zip_of(torch_items(BENIGN, DATA, byteorder=b"middle"))


def case_missing_storage() -> bytes:
    return zip_of(torch_items(BENIGN, {}))


def case_short_storage() -> bytes:
    return zip_of(torch_items(BENIGN, {"0": floats(1.0)}))


def case_int_storage_key() -> bytes:
    body = pickle_of(
        mapping([(s("a"), tensor(storage(i(0), 2), 0, (2,), (1,))), (s("b"), tensor(storage("0", 2), 0, (2,), (1,)))])
    )
    return zip_of(torch_items(body, DATA))


def case_six_field_storage_id() -> bytes:
    body = pickle_of(mapping([(s("w"), tensor(storage("0", 2, extra=b"N"), 0, (2,), (1,)))]))
    return zip_of(torch_items(body, DATA))


def case_constants_pkl_other_case() -> bytes:  # torch looks for exactly "constants.pkl" in its record list
    return zip_of([*torch_items(BENIGN, DATA), Item(b"archive/Constants.pkl", pickle_of(b")"))])


def case_constants_pkl() -> bytes:
    return zip_of([*torch_items(BENIGN, DATA), Item(b"archive/constants.pkl", pickle_of(b")"))])


def case_counter() -> bytes:
    body = pickle_of(call(g("collections", "Counter"), mapping([(s("w"), tensor(storage("0", 2), 0, (2,), (1,)))])))
    return zip_of(torch_items(body, DATA))


def case_parameter_global() -> bytes:
    w = call(g("torch.nn.parameter", "Parameter"), tensor(storage("0", 2), 0, (2,), (1,)), b"\x89")
    return zip_of(torch_items(pickle_of(mapping([(s("w"), w)])), DATA))


def case_short_binstring_key() -> bytes:
    key = "é".encode()
    body = pickle_of(mapping([(b"U" + bytes([len(key)]) + key, tensor(storage("0", 2), 0, (2,), (1,)))]))
    return zip_of(torch_items(body, DATA))


def case_shared_dtype_reinterpret() -> bytes:
    """One key referenced as float storage, then as a double storage: torch keeps the first."""
    body = pickle_of(
        mapping(
            [
                (s("a"), tensor(storage("0", 2), 0, (2,), (1,))),
                (s("b"), tensor(storage("0", 1, cls="DoubleStorage"), 0, (1,), (1,))),
            ]
        )
    )
    return zip_of(torch_items(body, DATA))


def case_offset_view() -> bytes:
    body = pickle_of(mapping([(s("w"), tensor(storage("0", 4), 1, (2, 2), (0, 1)))]))
    return zip_of(torch_items(body, {"0": floats(1, 2, 3, 4)}))


def case_data_crc_lies() -> bytes:
    items = torch_items(BENIGN, DATA)
    items[0].crc_override = 1234
    return zip_of(items)


def case_tar_polyglot() -> bytes:
    return tar_polyglot(mapping([(s("w"), tensor(legacy_root("0", 2), 0, (2,), (1,)))]), [("0", 2, floats(1, 2))])


def case_legacy_side_pickle_global() -> bytes:
    body = mapping([(s("w"), tensor(legacy_root("0", 2), 0, (2,), (1,)))])
    return legacy(body, [("0", 2, floats(1, 2))], sys_info=call(g("os", "system"), s("true")))


def case_legacy_views_share_a_key() -> bytes:
    """Two views with one view key: torch keeps the first definition for both."""
    a = tensor(legacy_view("0", 4, "v", 1, 2), 0, (2,), (1,))
    b = tensor(legacy_view("0", 4, "v", 2, 2), 0, (2,), (1,))
    return legacy(
        mapping([(s("a"), a), (s("b"), b), (s("r"), tensor(legacy_root("0", 4), 0, (4,), (1,)))]),
        [("0", 4, floats(1, 2, 3, 4))],
    )


def case_legacy_view_of_other_dtype() -> bytes:
    """A view referenced with another storage type: torch offsets and types it by the view's own type."""
    root = tensor(legacy_root("0", 4, "IntStorage"), 0, (4,), (1,))
    view = tensor(legacy_view("0", 4, "v", 1, 1, "DoubleStorage"), 0, (1,), (1,))
    return legacy(mapping([(s("r"), root), (s("v"), view)]), [("0", 4, struct.pack("<4i", 1, 2, 3, 4))])


def case_legacy_view_key_is_a_root() -> bytes:
    a = tensor(legacy_view("0", 4, "1", 0, 2), 0, (2,), (1,))
    b = tensor(legacy_root("1", 2), 0, (2,), (1,))
    return legacy(mapping([(s("a"), a), (s("b"), b)]), [("0", 4, floats(1, 2, 3, 4)), ("1", 2, floats(5, 6))])


def case_legacy_count_mismatch() -> bytes:
    body = mapping([(s("w"), tensor(legacy_root("0", 2), 0, (2,), (1,)))])
    return legacy(body, [("0", 3, floats(1, 2, 3))])


def case_neg_bit() -> bytes:
    """torch.save of `x.conj().imag`: a view whose neg bit torch sets again on load (values are -bytes)."""
    neg = call(
        g("torch._utils", "_rebuild_tensor_v2"),
        storage("0", 2),
        i(0),
        b"(" + i(2) + b"t",
        b"(" + i(1) + b"t",
        b"\x89",
        call(g("collections", "OrderedDict")),
        b"}" + s("neg") + b"\x88s",
    )
    return zip_of(torch_items(pickle_of(mapping([(s("n"), neg)])), DATA))


def case_tensor_by_build() -> bytes:
    body = call(g("torch", "Tensor")) + b"(" + storage("0", 2) + i(0) + b"(" + i(2) + b"t(" + i(1) + b"ttb"
    return zip_of(torch_items(pickle_of(mapping([(s("w"), body)])), DATA))


def case_untyped_storage_in_torch() -> bytes:
    """`torch.UntypedStorage` (torch's allowlist has only `torch.storage.UntypedStorage`): read, and noted."""
    store = b"(" + s("storage") + g("torch", "UntypedStorage") + s("0") + s("cpu") + i(8) + b"tQ"
    w = call(
        g("torch._utils", "_rebuild_tensor_v3"),
        store,
        i(0),
        b"(" + i(2) + b"t",
        b"(" + i(1) + b"t",
        b"\x89",
        call(g("collections", "OrderedDict")),
        g("torch", "float32"),
    )
    return zip_of(torch_items(pickle_of(mapping([(s("w"), w)])), DATA))


def case_empty_storage_two_types() -> bytes:
    """An empty storage referenced as float, then as long: torch types each reference by its own class."""
    a = tensor(storage("0", 0), 0, (0,), (1,))
    b = tensor(storage("0", 0, "LongStorage"), 0, (0,), (1,))
    return zip_of(torch_items(pickle_of(mapping([(s("a"), a), (s("b"), b)])), {"0": b""}))


def case_zip64_directory() -> bytes:
    items = torch_items(BENIGN, DATA)
    for item in items:
        item.zip64 = True
    return zip_of(items)


def case_dotted_keys_collide() -> bytes:
    a = tensor(storage("0", 2), 0, (2,), (1,))
    b = tensor(storage("0", 2), 1, (1,), (1,))
    return zip_of(torch_items(pickle_of(mapping([(s("a.b"), a), (s("a"), mapping([(s("b"), b)]))])), DATA))


def case_int_and_str_keys_collide() -> bytes:
    a = tensor(storage("0", 2), 0, (2,), (1,))
    b = tensor(storage("0", 2), 1, (1,), (1,))
    return zip_of(torch_items(pickle_of(mapping([(i(1), a), (s("1"), b)])), DATA))


def safetensors_of(header: bytes, data: bytes) -> bytes:
    return struct.pack("<Q", len(header)) + header + data


def case_safetensors_trailing_bytes() -> bytes:
    header = b'{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}'
    return safetensors_of(header, floats(1, 2) + EVIL)


def case_safetensors_header_padded() -> bytes:
    header = b'{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}'
    return safetensors_of(header + b" " * (-len(header) % 8), floats(1, 2))


CASES: dict[str, tuple[Callable[[], bytes], str]] = {  # name: (builder, "identical" | "refused: <regex>")
    "names equal but for case": (case_dup_by_case, "refused: differ only by case"),
    "NUL byte in a name": (case_nul_name, "refused: NUL byte"),
    "directory's data.pkl is not the first header": (case_directory_points_past_first_header, "identical"),
    "local header names another file": (case_local_name_lies, "identical"),
    "member outside the archive folder": (case_member_outside_folder, "refused: outside the archive folder"),
    "deflated data.pkl": (case_deflated_data_pkl, "identical"),
    "storage found by another case": (case_storage_by_other_case, "identical"),
    "byteorder big": (case_byteorder_big, "refused: big-endian"),
    "byteorder unknown": (case_byteorder_unknown, "refused: unknown byteorder"),
    "missing storage": (case_missing_storage, "refused: tensor 'w': its storage 'data/0' is missing"),
    "storage too short": (case_short_storage, "refused: tensor 'w': its storage 'data/0' holds 4 bytes"),
    "int storage key": (case_int_storage_key, "refused: storage key 0 is not a string"),
    "six-field storage id in a zip": (case_six_field_storage_id, "refused: 6 fields"),
    "constants.pkl (TorchScript dispatch)": (case_constants_pkl, "torchscript"),
    "Constants.pkl (no TorchScript dispatch)": (case_constants_pkl_other_case, "identical"),
    "collections.Counter": (case_counter, "identical"),
    "torch.nn.parameter.Parameter": (case_parameter_global, "identical"),
    "SHORT_BINSTRING key (UTF-8)": (case_short_binstring_key, "identical"),
    "one key, two storage types": (case_shared_dtype_reinterpret, "identical"),
    "offset + stride-0 view": (case_offset_view, "identical"),
    "data.pkl CRC lies": (case_data_crc_lies, "refused: CRC"),
    "legacy tar polyglot": (case_tar_polyglot, "refused: is a tar archive"),
    "legacy sys info names os.system": (case_legacy_side_pickle_global, "flagged: os.system"),
    "legacy views share a key": (case_legacy_views_share_a_key, "identical"),
    "legacy view of another dtype": (case_legacy_view_of_other_dtype, "identical"),
    "legacy view key is a storage key": (case_legacy_view_key_is_a_root, "refused: also a storage key"),
    "legacy element count lies": (case_legacy_count_mismatch, "refused: holds 3 elements"),
    "safetensors with bytes after the last tensor": (case_safetensors_trailing_bytes, "refused: belong to no tensor"),
    "safetensors header padded with spaces": (case_safetensors_header_padded, "identical"),
    "zip64 directory entries": (case_zip64_directory, "identical"),
    "torch.UntypedStorage (not on torch's allowlist)": (case_untyped_storage_in_torch, "noted: torch.UntypedStorage"),
    "empty storage referenced with two types": (case_empty_storage_two_types, "identical"),
    "tensor with the neg bit": (case_neg_bit, "refused: lazy bits"),
    "torch.Tensor() + BUILD (set_)": (case_tensor_by_build, "refused: calling torch.Tensor"),
    "dotted keys collide ('a.b' and a -> b)": (case_dotted_keys_collide, "refused: two tensors read as 'a.b'"),
    "int and str keys collide (1 and '1')": (case_int_and_str_keys_collide, "refused: two tensors read as '1'"),
}


@pytest.fixture(scope="module")
def verdicts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Verdict]]:
    root = tmp_path_factory.mktemp("differential")
    paths = {}
    for n, (name, (build, _)) in enumerate(CASES.items()):
        paths[name] = root / f"case{n}.{'safetensors' if name.startswith('safetensors') else 'pt'}"
        paths[name].write_bytes(build())
    samples = sorted(p for p in SAMPLES.iterdir() if p.suffix in (".pth", ".safetensors"))
    for p in samples:
        paths[f"sample {p.name}"] = p
    judged = compare_files(list(paths.values()))
    return {name: (p, judged[p]) for name, p in paths.items()}


@pytest.mark.parametrize("name", sorted(CASES))
def test_case_matches_torch_or_is_refused(verdicts: dict[str, tuple[Path, Verdict]], name: str) -> None:
    path, verdict = verdicts[name]
    assert verdict.ok, f"{name}: {verdict.detail}"
    expected = CASES[name][1]
    if expected == "identical":
        assert verdict.outcome == "identical", verdict.detail
    elif expected == "torchscript":
        assert read_checkpoint(path).format == "torchscript"
    elif expected.startswith("noted: "):
        assert any(n.subject == expected.removeprefix("noted: ") for n in read_checkpoint(path).notices)
    elif expected.startswith("flagged: "):
        name = expected.removeprefix("flagged: ")
        assert any(n.subject == name and n.severity == "warning" for n in read_checkpoint(path).notices)
    else:
        with pytest.raises(CkptError, match=expected.removeprefix("refused: ")):
            read_checkpoint(path)


def test_every_sample_matches_torch(verdicts: dict[str, tuple[Path, Verdict]]) -> None:
    samples = {n: v for n, (_, v) in verdicts.items() if n.startswith("sample ")}
    assert samples and all(v.ok for v in samples.values()), {n: v.detail for n, v in samples.items() if not v.ok}
    assert sum(v.outcome == "identical" for v in samples.values()) >= len(samples) - 1
