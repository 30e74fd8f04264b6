"""Self-regularization loss: k = 1 (or alpha = 0) is exactly plain fine-tuning."""

from __future__ import annotations

import pytest
import torch

from serkit.training.selfreg import repeat_batch, selfreg_loss
from test_transformer import LABELS, make_tagger


@pytest.fixture(scope="module")
def model_and_batch(backbone):
    tagger = make_tagger(backbone)
    windows = tagger.encoder.encode(
        [["i", "use", "python", "on", "linux"], ["java", "and", "spring", "boot", "."]]
    )
    inputs = {k: torch.from_numpy(v) for k, v in tagger.encoder.pad(windows).items()}
    labels = torch.from_numpy(tagger.encoder.labels(windows, [[0, 0, 1, 0, 3], [1, 0, 5, 6, 0]]))
    return tagger.model, inputs, labels


def test_k1_equals_vanilla_loss_exactly(model_and_batch):
    model, inputs, labels = model_and_batch
    model.train()
    torch.manual_seed(5)
    vanilla = model(**inputs, labels=labels).loss
    torch.manual_seed(5)
    logits = model(**repeat_batch(inputs, 1)).logits
    for alpha in (0.0, 3.0):
        ours, parts = selfreg_loss(logits, labels, k=1, alpha=alpha)
        assert torch.equal(ours, vanilla)
        assert parts["kl"] == 0.0


def test_alpha0_equals_vanilla_for_k2(model_and_batch):
    model, inputs, labels = model_and_batch
    model.eval()  # same pass twice: mean CE over passes == the single-pass CE
    vanilla = model(**inputs, labels=labels).loss
    logits = model(**repeat_batch(inputs, 2)).logits
    ours, _ = selfreg_loss(logits, labels, k=2, alpha=0.0)
    torch.testing.assert_close(ours, vanilla, rtol=1e-6, atol=1e-7)
    # Identical passes agree: the KL term is zero even with alpha > 0.
    ours5, parts = selfreg_loss(logits, labels, k=2, alpha=5.0)
    assert abs(parts["kl"]) < 1e-6
    torch.testing.assert_close(ours5, vanilla, rtol=1e-5, atol=1e-6)


def test_dropout_passes_disagree_and_kl_has_gradient(model_and_batch):
    model, inputs, labels = model_and_batch
    model.train()
    model.zero_grad()
    logits = model(**repeat_batch(inputs, 3)).logits
    loss, parts = selfreg_loss(logits, labels, k=3, alpha=1.0)
    assert parts["kl"] > 0.0
    loss.backward()
    assert model.classifier.weight.grad is not None
    assert float(model.classifier.weight.grad.abs().sum()) > 0.0


def test_kl_matches_definition():
    torch.manual_seed(0)
    k, b, t, c = 3, 2, 4, len(LABELS)
    logits = torch.randn(k * b, t, c)
    labels = torch.randint(0, c, (b, t))
    labels[0, 0] = -100
    _, parts = selfreg_loss(logits, labels, k=k, alpha=1.0)
    mask = labels != -100
    p = logits.view(k, b, t, c).softmax(-1)[:, mask]
    m = p.mean(0)
    kl = torch.stack([(m * (m.log() - pi.log())).sum(-1).mean() for pi in p]).mean()
    assert abs(parts["kl"] - float(kl)) < 1e-5


def test_repeat_batch_is_pass_major():
    x = {"input_ids": torch.tensor([[1, 2], [3, 4]])}
    r = repeat_batch(x, 2)["input_ids"]
    assert r.tolist() == [[1, 2], [3, 4], [1, 2], [3, 4]]
