"""The device option (``cpu``, ``cuda``, ``cuda:N``, ``auto``): names, resolution, runtime
choice, and a clear one-line error wherever a GPU is asked for and there is none.

This machine has no GPU: what runs on one is checked here only up to the point where the
GPU would be used (which runtime, which providers, how many actors and workers)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from _cli import run_cli
from serkit import devices
from serkit.devices import CPU_EP, CUDA_EP, check_device, onnx_providers, torch_device
from serkit.errors import ModelLoadError, SerkitError
from serkit.models import folder


@pytest.fixture
def no_gpu(monkeypatch):
    """torch sees no CUDA GPU, whatever machine runs the suite."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


@pytest.mark.parametrize(
    ("given", "name"),
    [(None, "cpu"), ("cpu", "cpu"), (" CUDA ", "cuda"), ("cuda:1", "cuda:1"), ("auto", "auto")],
)
def test_device_names_are_normalised(given, name):
    assert check_device(given) == name


@pytest.mark.parametrize("bad", ["gpu", "cuda:", "cuda:x", "mps", "", "cpu:0"])
def test_unknown_device_names_are_refused_with_the_choices(bad):
    with pytest.raises(SerkitError, match="unknown device .*choose cpu, cuda"):
        check_device(bad)


def test_torch_device_without_a_gpu(no_gpu):
    assert torch_device("cpu") == torch.device("cpu")
    assert torch_device("auto") == torch.device("cpu")  # auto falls back, cuda does not
    with pytest.raises(SerkitError, match="'cuda': torch sees no CUDA GPU.*--device cpu"):
        torch_device("cuda")
    assert not devices.wants_gpu("auto") and devices.wants_gpu("cuda")


def test_torch_device_with_gpus_picks_the_index_and_refuses_a_missing_one(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    assert torch_device("auto") == torch.device("cuda", 0)
    assert torch_device("cuda:1") == torch.device("cuda", 1)
    with pytest.raises(SerkitError, match="sees 2 CUDA GPU.*cuda:0..cuda:1"):
        torch_device("cuda:2")


def test_onnx_providers():
    assert onnx_providers("cpu") == [CPU_EP]
    assert onnx_providers("auto", available=[CPU_EP]) == [CPU_EP]
    assert onnx_providers("auto", available=[CUDA_EP, CPU_EP]) == [
        (CUDA_EP, {"device_id": 0}),
        CPU_EP,
    ]
    assert onnx_providers("cuda:1", available=[CUDA_EP, CPU_EP])[0] == (
        CUDA_EP,
        {"device_id": 1},
    )
    with pytest.raises(SerkitError, match="no CUDAExecutionProvider.*onnxruntime-gpu"):
        onnx_providers("cuda", available=[CPU_EP])


def _folder(d: Path, *names: str) -> Path:
    """A folder holding empty files of these names (the choice reads names only)."""
    d.mkdir()
    for name in names:
        (d / name).write_bytes(b"")
    return d


def test_transformer_runtime_takes_torch_weights_on_a_gpu_and_the_graph_on_the_cpu(
    tmp_path, monkeypatch
):
    from serkit.models.registry import transformer_runtime

    both = _folder(tmp_path / "both", "model.safetensors", "model.int8.onnx")
    graph_only = _folder(tmp_path / "graph", "model.onnx")
    assert transformer_runtime(both, "auto", "cpu") == "onnx-int8"
    assert transformer_runtime(both, "auto", "cuda", here=False) == "torch"  # a Ray driver
    assert transformer_runtime(both, "onnx", "cuda") == "onnx-int8"  # asked for by name
    assert transformer_runtime(both, "torch", "cpu") == "torch"
    assert transformer_runtime(graph_only, "auto", "cuda") == "onnx-fp32"
    with pytest.raises(ModelLoadError, match="no ONNX graph for runtime 'onnx-int8'"):
        transformer_runtime(graph_only, "onnx-int8", "cpu")
    # Here, on a machine whose torch has no CUDA (a CPU wheel next to onnxruntime-gpu),
    # the graph is the way to the GPU; with torch's CUDA the weights are.
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert transformer_runtime(both, "auto", "cuda") == "onnx-int8"
    weights_only = _folder(tmp_path / "weights", "model.safetensors")
    assert transformer_runtime(weights_only, "auto", "cuda") == "torch"  # torch says why not
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert transformer_runtime(both, "auto", "cuda") == "torch"
    assert transformer_runtime(both, "auto", "auto") == "torch"


def test_models_load_on_the_cpu_and_refuse_a_missing_gpu(tiny_dirs, no_gpu):
    from serkit.models.registry import load_tagger

    for d, prefer in ((tiny_dirs["torch"], "torch"), (tiny_dirs["int8"], "auto")):
        tagger = load_tagger(d, prefer=prefer, device="cpu")
        assert tagger.device == "cpu"
        assert tagger.predict_words([["I", "use", "Java"]])[0][0]
    # auto on a machine without a GPU: the CPU, the same answers
    auto = load_tagger(tiny_dirs["torch"], prefer="torch", device="auto")
    cpu = load_tagger(tiny_dirs["torch"], prefer="torch", device="cpu")
    words = [["I", "use", "Java", "on", "Linux"]]
    assert auto.device == "cpu" and auto.predict_words(words) == cpu.predict_words(words)
    with pytest.raises(SerkitError, match="torch sees no CUDA GPU"):
        load_tagger(tiny_dirs["torch"], prefer="torch", device="cuda")
    # the CPU wheel of onnxruntime has no CUDA provider: said, not a silent CPU run
    import onnxruntime as ort

    if CUDA_EP not in ort.get_available_providers():
        with pytest.raises(SerkitError, match="no CUDAExecutionProvider"):
            load_tagger(tiny_dirs["int8"], device="cuda")


def test_the_torch_tagger_runs_where_its_model_is(tiny_dirs):
    from serkit.models.registry import load_tagger

    tagger = load_tagger(tiny_dirs["torch"], prefer="torch")
    assert str(next(tagger.model.parameters()).device) == tagger.device == "cpu"
    assert tagger.max_tokens == 512  # the CPU default; 8192 on a GPU


def test_crf_runs_on_the_cpu_only(tmp_path):
    from serkit.models.registry import load_tagger, runtime_on
    from serkit.tokens import Sentence
    from serkit.training.crf import train_crf

    sents = [Sentence(["I", "use", "Java"], ["O", "O", "B-Language"])] * 3
    d = tmp_path / "crf"
    train_crf(sents, sents[:1], d, {"max_iterations": 5, "lexicon": False})
    assert load_tagger(d, device="auto").device == "cpu"
    with pytest.raises(ModelLoadError, match="crf model runs on the CPU only, not 'cuda'"):
        load_tagger(d, device="cuda")
    card = json.loads((d / "serkit.json").read_text())
    with pytest.raises(ModelLoadError, match="CPU only"):
        runtime_on(d, card, "auto", "cuda")


def test_cli_device_errors_are_one_line(capsys, tiny_dirs, no_gpu):
    code, out = run_cli(capsys, "tag", "--text", "I use Java", "-m", str(tiny_dirs["torch"]),
                        "--runtime", "torch", "--device", "cuda")  # fmt: skip
    assert code == 2 and "torch sees no CUDA GPU" in out and "Traceback" not in out
    assert len(out.strip().splitlines()) == 1
    code, out = run_cli(capsys, "tag", "--text", "I use Java", "--device", "gpu")
    assert code == 2 and "unknown device 'gpu'" in out
    code, out = run_cli(capsys, "tag", "--text", "I use Java", "--gpus-per-actor", "1")
    assert code == 2 and "--gpus-per-actor needs --engine ray" in out  # never a silent CPU run
    code, out = run_cli(capsys, "tag", "--text", "I use Java", "-m", str(tiny_dirs["int8"]),
                        "--device", "auto", "--workers", "1")  # fmt: skip
    assert code == 0, out


def test_workers_default_to_one_process_for_a_gpu_model(monkeypatch):
    import serkit.models.registry as registry
    from serkit.workers import WorkerTagger, usable_cores

    class OnGpu:
        labels, card, model_dir, decoding = ["O"], {}, None, "viterbi"
        batches_itself, device = False, "cuda:0"

    monkeypatch.setattr(registry, "load_tagger", lambda *a, **k: OnGpu())
    assert WorkerTagger(None, device="cuda").workers == 1
    assert WorkerTagger(None, device="cuda", workers=3).workers == 3  # asked for
    OnGpu.device = "cpu"
    assert WorkerTagger(None).workers == usable_cores()


def test_ray_actor_count_follows_cpus_and_gpus():
    from serkit.scale.engine import actors_for

    assert actors_for(10, None, {"CPU": 4.0}, 1, 0.0) == 4
    assert actors_for(2, None, {"CPU": 4.0}, 1, 0.0) == 2  # one per shard at most
    assert actors_for(2, 4, {"CPU": 4.0}, 1, 0.0) == 2  # asked for too: idle ones load for nothing
    assert actors_for(10, None, {"CPU": 16.0, "GPU": 2.0}, 1, 1.0) == 2
    assert actors_for(10, None, {"CPU": 16.0, "GPU": 2.0}, 1, 0.5) == 4  # sharing a GPU
    with pytest.raises(SerkitError, match="3 actors x 1 GPUs need 3 GPUs; the Ray cluster has 2"):
        actors_for(10, 3, {"CPU": 16.0, "GPU": 2.0}, 1, 1.0)
    with pytest.raises(SerkitError, match="need 8 CPUs; the Ray cluster has 4"):
        actors_for(10, 4, {"CPU": 4.0}, 2, 0.0)


def test_ray_gpu_job_fixes_the_actors_runtime_on_the_driver(tmp_path, tiny_dirs):
    """A driver without a GPU checks the model on its CPU and tells the GPU actors which
    runtime to use: the torch weights when the folder has them."""
    import shutil

    from serkit.scale.jobs import TagJob

    both = tmp_path / "both"
    shutil.copytree(tiny_dirs["torch"], both)
    for name in ("model.int8.onnx", "serkit.json"):  # the int8 graph and the card listing it
        shutil.copyfile(tiny_dirs["int8"] / name, both / name)
    card = folder.read_card(both)  # ... and the torch weights: a card lists every weight file
    card["files"] = folder.checksums(both)
    (both / folder.CARD_NAME).write_text(json.dumps(card), encoding="utf-8")
    job, run = TagJob(str(both), device="cuda").prepare()
    assert job.runtime == "torch" and run["runtime"] == "torch" and run["device"] == "cuda"
    job, run = TagJob(str(both)).prepare()
    assert job.runtime == "auto" and run["runtime"] == "onnx-int8" and "device" not in run
    job, run = TagJob(str(tiny_dirs["int8"]), device="cuda").prepare()
    assert job.runtime == "onnx-int8"  # no torch weights: the graph, on onnxruntime-gpu
    with pytest.raises(SerkitError, match="takes cpu or cuda"):
        TagJob(str(both), device="auto")
    assert TagJob(str(both), device=" CPU ").device == "cpu"  # one spelling in the manifest


def test_ray_tag_asks_one_gpu_per_actor_for_cuda(monkeypatch, tmp_path):
    import serkit.scale.engine as engine

    seen = {}

    def fake_run_job(job, inputs, out_dir, **options):
        seen.update(job=job, **options)

    monkeypatch.setattr(engine, "run_job", fake_run_job)
    engine.ray_tag(["x"], tmp_path, device="cuda")
    assert seen["gpus_per_actor"] == 1.0 and seen["job"].device == "cuda"
    engine.ray_tag(["x"], tmp_path, gpus_per_actor=0.25)
    assert seen["gpus_per_actor"] == 0.25 and seen["job"].device == "cuda"
    engine.ray_tag(["x"], tmp_path)
    assert seen["gpus_per_actor"] == 0.0 and seen["job"].device == "cpu"


def test_a_ray_gpu_run_refused_before_any_shard_leaves_its_folder_to_a_cpu_run(
    monkeypatch, capsys, tmp_path, tiny_dirs
):
    """`serkit tag --engine ray --device cuda -o out/` on a cluster without a GPU fails in
    one line after the manifest is written; it lists no shard, so the CPU run that follows
    into the same folder takes it instead of being refused as "another run"."""
    import contextlib

    import serkit.scale.engine as engine
    from serkit.scale import read_manifest

    @contextlib.contextmanager
    def cluster_without_gpu(address, num_cpus):
        yield {"CPU": 2.0}

    def in_process(todo, worker_args, actors, need, progress):  # one actor, no Ray
        worker = engine.ShardWorker(**worker_args)
        for shard in todo:
            yield worker.do_shard(shard)

    monkeypatch.setattr(engine, "ray_session", cluster_without_gpu)
    monkeypatch.setattr(engine, "_run_shards", in_process)
    notes, out, model = tmp_path / "notes.txt", tmp_path / "out", str(tiny_dirs["int8"])
    notes.write_text("I use Java on Linux.")
    with pytest.raises(SerkitError, match="need 1 GPUs; the Ray cluster has 0"):
        engine.ray_tag([notes], out, model=model, device="cuda")
    failed = json.loads((out / "manifest.json").read_text())
    assert failed["run"]["device"] == "cuda" and failed["shards"] == []

    run = engine.ray_tag([notes], out, model=model)
    assert (run.shards, run.tagged, run.reused, run.docs) == (1, 1, 0, 1)
    assert json.loads((out / "manifest.json").read_text())["complete"]
    manifest = read_manifest(out)
    assert "device" not in manifest.run
    code, local = run_cli(capsys, "tag", str(notes), "-m", model)  # what a local run writes
    assert code == 0 and list(manifest.records()) == [json.loads(local)]
    # Shards finished by another run still guard their folder.
    with pytest.raises(SerkitError, match="another run .*device None -> 'cuda'"):
        engine.ray_tag([notes], out, model=model, device="cuda")


def test_training_device_is_a_checked_option_that_a_resume_may_change(backbone, tmp_path, no_gpu):
    from _corpus import TOY, write_tagged
    from serkit.training.config import TrainConfig
    from serkit.training.trainer import Trainer, train

    with pytest.raises(SerkitError, match="unknown device 'gpu'"):
        TrainConfig.from_dict({"train": "x", "device": "gpu"})
    assert TrainConfig().device == "auto"
    data = write_tagged(tmp_path / "toy.txt", TOY * 2)
    base = dict(
        train=str(data), val_slice=True, backbone=str(backbone), features=["case"],
        epochs=1, batch_tokens=64, max_length=16, stride=4, output=str(tmp_path / "m"),
        eval_every=2, checkpoint_every=2, threads=1, max_steps=4,
    )  # fmt: skip
    with pytest.raises(SerkitError, match="torch sees no CUDA GPU"):
        train(TrainConfig.from_dict({**base, "device": "cuda"}), progress=False)
    Trainer(TrainConfig.from_dict(base), progress=False).run(stop_at=2)
    # resumed with another device: allowed (the run's other settings are its own)
    train(TrainConfig.from_dict({**base, "device": "cpu"}), resume=True, progress=False)
    card = json.loads((tmp_path / "m" / "serkit.json").read_text())
    state = json.loads((tmp_path / "m" / "checkpoint" / "state.json").read_text())
    assert card["training"]["device"] == "cpu" and state["config"]["device"] == "cpu"


def test_training_device_per_rank_and_under_accelerate_cpu(monkeypatch):
    from serkit.training.config import TrainConfig
    from serkit.training.trainer import Trainer

    class Ranks:
        world = 2
        is_main = True

    t = Trainer(TrainConfig(train="x", device="cuda:1"), progress=False)
    t.dist = Ranks()
    with pytest.raises(SerkitError, match="'cuda:1' under a launcher of 2 processes: use cuda"):
        t._device_name()
    t.cfg = TrainConfig(train="x", device="auto")
    monkeypatch.setenv("ACCELERATE_USE_CPU", "true")
    assert t._device_name() == "cpu"
    monkeypatch.delenv("ACCELERATE_USE_CPU")
    assert t._device_name() == "auto"


def test_crf_training_refuses_a_gpu():
    from serkit.architectures import get
    from serkit.training.config import TrainConfig

    with pytest.raises(SerkitError, match="crf model trains on the CPU only, not 'cuda'"):
        get("crf").train(TrainConfig(train="x", arch="crf", device="cuda"))


def test_spacy_component_checks_its_device():
    spacy = pytest.importorskip("spacy")
    nlp = spacy.blank("en")
    with pytest.raises(SerkitError, match="unknown device"):
        nlp.add_pipe("serkit", config={"device": "gpu"})
    with pytest.raises(SerkitError, match="unknown dtype"):
        nlp.add_pipe("serkit", config={"dtype": "fp8"})
    pipe = nlp.add_pipe("serkit", config={"device": "CPU", "dtype": "BF16"})
    assert (pipe.device, pipe.dtype) == ("cpu", "bf16")


@pytest.mark.parametrize(("given", "name"), [(None, "fp32"), ("FP16", "fp16"), (" bf16", "bf16")])
def test_dtype_names(given, name):
    from serkit.devices import check_dtype, torch_dtype

    assert check_dtype(given) == name
    assert torch_dtype(given) == {"fp32": torch.float32, "fp16": torch.float16,
                                  "bf16": torch.bfloat16}[name]  # fmt: skip
    with pytest.raises(SerkitError, match="unknown dtype 'fp8': choose fp32, fp16, bf16"):
        check_dtype("fp8")


def test_bf16_runs_the_torch_weights_and_agrees_with_fp32_on_a_tiny_model(tiny_dirs):
    from serkit.models.registry import load_tagger

    fp32 = load_tagger(tiny_dirs["torch"], prefer="torch")
    bf16 = load_tagger(tiny_dirs["torch"], dtype="bf16")  # auto: the torch weights
    assert bf16.runtime == "torch" and next(bf16.model.parameters()).dtype == torch.bfloat16
    words = [["I", "use", "Java", "and", "Linux", "on", "a", "Raspberry", "Pi"]]
    (tags32, scores32), (tags16, scores16) = (
        fp32.predict_words(words)[0],
        bf16.predict_words(words)[0],
    )
    assert len(tags16) == len(tags32) == 9
    assert all(0.0 <= s <= 1.0 for s in scores16)
    # bf16 keeps 8 bits of mantissa: scores stay close to fp32's
    assert max(abs(a - b) for a, b in zip(scores32, scores16, strict=True)) < 0.1


def test_dtype_is_refused_where_the_precision_is_fixed(tiny_dirs, tmp_path, capsys):
    from serkit.models.registry import load_tagger
    from serkit.scale.jobs import TagJob

    with pytest.raises(ModelLoadError, match="dtype 'fp16' runs the torch weights"):
        load_tagger(tiny_dirs["int8"], dtype="fp16")  # a graph only
    with pytest.raises(ModelLoadError, match="dtype 'bf16' runs the torch weights"):
        load_tagger(tiny_dirs["torch"], prefer="onnx", dtype="bf16")
    code, out = run_cli(capsys, "tag", "--text", "I use Java", "-m", str(tiny_dirs["int8"]),
                        "--dtype", "fp16")  # fmt: skip
    assert code == 2 and "runs the torch weights" in out and len(out.strip().splitlines()) == 1
    code, out = run_cli(capsys, "tag", "--text", "I use Java", "--dtype", "half")
    assert code == 2 and "unknown dtype 'half'" in out
    job, run = TagJob(str(tiny_dirs["torch"]), dtype="BF16").prepare()
    assert job.dtype == "bf16" and run["runtime"] == "torch" and run["dtype"] == "bf16"


def test_crf_keeps_its_own_precision(tmp_path):
    from serkit.models.registry import load_tagger
    from serkit.tokens import Sentence
    from serkit.training.crf import train_crf

    sents = [Sentence(["I", "use", "Java"], ["O", "O", "B-Language"])] * 3
    train_crf(sents, sents[:1], tmp_path / "crf", {"max_iterations": 5, "lexicon": False})
    with pytest.raises(ModelLoadError, match="crf model computes in its own precision"):
        load_tagger(tmp_path / "crf", dtype="bf16")
