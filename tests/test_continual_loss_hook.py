"""The continual-learning protocol's ``continual_loss(x, y, task_id, allowed)`` hook: a model supplying its own
training loss gets the batch's labels, sub-task ids and class masks, its loss replaces the cross-entropy (the
auxiliary losses still add), evaluation calls the model as usual, and bad uses raise."""

import pytest
import torch
from torch import nn

from hyperzoo import core
from hyperzoo.core.continual import SplitDigits

FAST = {"epochs": 1, "progress": False}


class OwnLoss(nn.Module):
    """A linear classifier whose training loss is the cross-entropy towards ``label + shift`` (within the
    sub-task's two classes): only a loss that sees the labels can learn that."""

    takes_task_id = True

    def __init__(self, shift=1, aux=0.0):
        super().__init__()
        self.linear = nn.Linear(64, 10)
        self.shift, self.aux = shift, aux
        self.seen, self.eval_calls = [], 0

    def forward(self, x, task_id=None):
        if not self.training:
            self.eval_calls += 1
        return self.linear(x.flatten(1))

    def continual_loss(self, x, y, task_id, allowed):
        self.seen.append((y.clone(), task_id.clone(), None if allowed is None else allowed.clone()))
        logits = self.linear(x.flatten(1))
        wanted = 2 * task_id + (y - 2 * task_id + self.shift) % 2          # the other class of the pair
        masked = logits.masked_fill(~allowed, float("-inf")) if allowed is not None else logits
        return logits, nn.functional.cross_entropy(masked, wanted)

    def auxiliary_losses(self):
        return {"extra": torch.tensor(self.aux)} if self.training else {}


def test_the_hook_gets_labels_ids_and_masks_and_its_loss_is_the_one_trained():
    task = SplitDigits(num_tasks=2)
    model = OwnLoss(shift=1, aux=0.25)
    r = core.run(task, model, epochs=1, lr=0.05, progress=False)   # one epoch: no best-epoch selection
    ys = torch.cat([y for y, _, _ in model.seen])
    ids = torch.cat([t for _, t, _ in model.seen])
    masks = torch.cat([a for _, _, a in model.seen])
    assert set(ids.tolist()) == {0, 1} and bool(((ys // 2) == ids).all())     # the labels of each sub-task
    assert masks.shape == (len(ys), 10) and bool((masks.sum(1) == 2).all())
    assert bool(masks[torch.arange(len(ys)), ys].all())                         # the allowed rows of the ids
    assert model.eval_calls > 0                                                 # evaluation: the forward
    # it learned the *swapped* labels: accuracy on the true ones collapses (cross-entropy would give > 0.9)
    assert r.metrics["test_accuracy_task0"] < 0.2 and r.metrics["test_accuracy_task1"] < 0.2
    rows = [h for h in r.history if "train_aux_extra" in h]
    assert rows and all(h["train_aux_extra"] == pytest.approx(0.25) for h in rows)
    # the logged training loss is the hook's (the swapped-label CE, small after training), not the true CE
    assert rows[-1]["train_loss"] < 0.5


def test_models_without_the_hook_train_as_before():
    class Plain(OwnLoss):
        continual_loss = None        # not callable: the ordinary forward and cross-entropy

    model = Plain()
    r = core.run(SplitDigits(num_tasks=2), model, epochs=1, lr=0.05, progress=False)
    assert not model.seen and r.metrics["test_average_accuracy"] > 0.9


def test_bad_uses_of_the_hook_raise():
    with pytest.raises(ValueError, match="label_smoothing"):
        core.run(SplitDigits(num_tasks=1), OwnLoss(), label_smoothing=0.1, **FAST)

    class NotScalar(OwnLoss):
        def continual_loss(self, x, y, task_id, allowed):
            logits = self.linear(x.flatten(1))
            return logits, nn.functional.cross_entropy(logits, y, reduction="none")

    with pytest.raises(ValueError, match="scalar loss tensor"):
        core.run(SplitDigits(num_tasks=1), NotScalar(), **FAST)
