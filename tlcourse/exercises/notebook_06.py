"""Self-checks for notebook 06's exercises (parameter-efficient fine-tuning and forgetting)."""
from __future__ import annotations

from ..checks import ACCURACY, checked
from .verdict import Verdict, check_prediction, unanswered


def check_lora_parameters(answer, layer) -> Verdict:
    """Exercise 06.1: the parameters LoRA adds beside one Linear `layer` (a peft LoRA layer):
    A is r x in and B is out x r, so r * (in + out)."""
    base = layer.base_layer
    rank = layer.r[layer.active_adapters[0]]
    truth = sum(p.numel() for name, p in layer.named_parameters() if "lora_" in name)
    hint = f"A is r x in ({rank} x {base.in_features}) and B is out x r ({base.out_features} x {rank}): add their sizes."
    if answer is None:
        return unanswered(hint)
    try:
        got = int(answer)
    except (TypeError, ValueError):
        return Verdict(False, f"Give a whole number, not {answer!r}. Hint: " + hint)
    if got == truth:
        return Verdict(True, f"{truth:,} = {rank} x ({base.in_features} + {base.out_features}), against "
                             f"{base.weight.numel():,} in the frozen weight W: {100 * truth / base.weight.numel():.1f} % of it.")
    if got == base.weight.numel():
        return Verdict(False, "That is W's size, which LoRA leaves frozen. Hint: " + hint)
    if got == rank * base.in_features or got == rank * base.out_features:
        return Verdict(False, "That is one of the two matrices. Hint: " + hint)
    return Verdict(False, "Not that. Hint: " + hint)


@checked(without=ACCURACY, head_only=ACCURACY)
def check_head_without_adapters(prediction, without: float, head_only: float) -> Verdict:
    """Exercise 06.2 (predict, then measure): the text LoRA model's head on the encoder with its
    adapters taken away, against a head trained on the untouched encoder."""
    return check_prediction(
        prediction, without, head_only, "the LoRA model's head without its adapters against the head-only model",
        why="The head was trained on the features the adapters produced, not on the untouched encoder's. Taking "
            "the adapters away gives back the pretrained encoder, but a head that learned to read other "
            "features. An adapter belongs with the head it was trained with (peft can save the head beside the "
            "adapter: `modules_to_save`).")
