"""tlcourse: the companion library of the transfer-learning course.

The course's pipeline, one module per stage:

    datasets -> data -> preprocess -> backbones + models -> training -> evaluate -> plots
    (folders)               |                                     |
                       features (frozen embeddings, cached; probes)  predict (saved, loaded, new images)
                       shift + adapt (domain shift and adaptation)

- `runtime`  how everything runs: threads, precision (float32 / bfloat16), device, progress bars,
             network timeouts
- `checks`   every number and string the public API takes, checked where it enters
- `datasets` named datasets (offline ones ship in PyPI packages), or a folder of your own images
- `folders`  a folder of your own images, one sub-folder per class (fastai's train/ + valid/ too)
- `data`     a split of a dataset (`split_items`) and fastai DataLoaders (`get_dls`)
- `preprocess` the one recipe that turns an image file into what a network reads
- `cache`    the disk cache: keys made of settings and contents, atomic writes
- `backbones` named networks (cut, splitter, stats, where their weights come from)
- `models`   the one body/head contract (`TransferModel`), `create_learner`, a head on cached
             features, ImageNet predictions, `trainable_parameters`
- `training` the schedules the course teaches (train the head, train all layers, fine-tune, LR finder)
- `layerwise` discriminative rates, gradual unfreezing, L2-SP, and an ablation over seeds
- `shift`    domain shift: corrupted copies of a dataset, how far apart two domains are
- `adapt`    adapting to a shifted domain: AdaBN, CORAL, DANN, few-shot fine-tuning
- `text`     text transfer: a graded tweet corpus and its topics, a sentence encoder that loads offline,
             cached embeddings, and the encoder as a fastai Learner to fine-tune
- `efficient` parameter-efficient fine-tuning: train only the norms, the biases or LoRA adapters (peft);
             what a training step holds in memory, counted
- `forgetting` what fine-tuning forgets of the source task: the ImageNet head put back on a fine-tuned body
- `features` embeddings from any layer of a frozen body, cached on disk; linear and k-NN probes
- `predict`  a fine-tuned model saved, loaded back (weights only) and run on new images
- `evaluate` metrics, comparison tables, accuracy across domains (pandas, no plotting)
- `exercises` the self-checks of each notebook's exercises (worked solutions: solutions/)
- `plots`    every figure the course shows; each function returns its Figure
- `results`  each notebook's headline figures (`record`)
- `evidence` the one rule by which a claim holds, over each notebook's runs with five seeds
- `finetune` notebook 02's recipe from the command line, on several GPUs with `accelerate launch`

Maintainer tools (executing the notebooks, making the evidence, the generated tables of the
README and the instructor guide) are in `tlcourse.maintain`, which `import tlcourse` does not load.

Importing tlcourse applies the course's thread policy (see `runtime.THREADS`) and hides torch's
deprecation warning for `torch.jit.script`, which fastai raises; nothing else.
"""
import warnings

# fastai's layers module calls torch.jit.script when it is imported, which torch 2.14 deprecates;
# the warning says nothing a learner can act on and would clutter every notebook. This one
# warning is hidden, and it stays hidden: modules imported later raise it too.
warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.*is deprecated", category=FutureWarning)

from . import (adapt, backbones, cache, checks, data, datasets, efficient, evaluate, features, folders,  # noqa: E402,F401
               forgetting, layerwise, models, plots, predict, preprocess, runtime, shift, text, training)
from .data import get_dls, split_items  # noqa: E402
from .datasets import DATASETS, list_datasets, load_items, load_photos  # noqa: E402
from .models import BACKBONES, create_learner, list_backbones, predict_imagenet  # noqa: E402
from .results import record  # noqa: E402
from .runtime import OfflineError  # noqa: E402

runtime.set_threads()

__all__ = [
    "DATASETS", "get_dls", "list_datasets", "load_items", "load_photos", "split_items",
    "BACKBONES", "create_learner", "list_backbones", "predict_imagenet",
    "record", "OfflineError",
]
