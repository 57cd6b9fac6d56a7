"""Training state without pickle: tensors go to safetensors, the rest to JSON. Optimizer state
dicts are flattened into both and rebuilt on load."""
import json

import torch
from safetensors.torch import load_file, save_file


def flatten_optimizer(name: str, sd: dict, tensors: dict) -> dict:
    state = {}
    for pid, entry in sd["state"].items():
        state[str(pid)] = {}
        for k, v in entry.items():
            if isinstance(v, torch.Tensor):
                tensors[f"{name}.state.{pid}.{k}"] = v.detach().cpu().contiguous()
                state[str(pid)][k] = {"tensor": f"{name}.state.{pid}.{k}"}
            else:
                state[str(pid)][k] = {"value": v}
    return {"state": state, "param_groups": sd["param_groups"]}


def unflatten_optimizer(meta: dict, tensors: dict) -> dict:
    state = {}
    for pid, entry in meta["state"].items():
        state[int(pid)] = {k: (tensors[v["tensor"]] if "tensor" in v else v["value"]) for k, v in entry.items()}
    return {"state": state, "param_groups": meta["param_groups"]}


def load_optimizer(optimizer: torch.optim.Optimizer, meta: dict, tensors: dict) -> None:
    """Rebuild an optimizer's state from what flatten_optimizer wrote, in its parameters' layout."""
    optimizer.load_state_dict(unflatten_optimizer(meta, tensors))
    match_param_layout(optimizer)


def match_param_layout(optimizer: torch.optim.Optimizer) -> None:
    """Give each loaded state tensor its parameter's memory layout. A checkpoint stores contiguous
    (NCHW) tensors; on CUDA the params are channels_last and fused Adam refuses mismatched strides
    (a resumed run crashed at its first step, seen on an H200), while CPU kernels let it pass."""
    for p, st in optimizer.state.items():
        for k, v in st.items():
            if isinstance(v, torch.Tensor) and v.shape == p.shape and v.stride() != p.stride():
                st[k] = torch.empty_like(p, dtype=v.dtype).copy_(v)


def write_state(path_json, path_tensors, meta: dict, tensors: dict) -> None:
    save_file(tensors, str(path_tensors))
    with open(path_json, "w") as f:
        json.dump(meta, f)


def read_state(path_json, path_tensors) -> tuple[dict, dict]:
    with open(path_json) as f:
        meta = json.load(f)
    return meta, load_file(str(path_tensors))
