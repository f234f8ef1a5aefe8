"""tlcourse: the companion library of the transfer-learning course.

The course's pipeline, one module per stage:

    data      ->  backbone + head  ->  training schedule  ->  evaluation  ->  plots
    data.py       models.py            training.py            evaluate.py     plots.py
                       |
                  features.py (frozen embeddings, cached; probes)
                  shift.py    (domain shift and adaptation)

- `runtime`  how everything runs: threads, precision (float32 / bfloat16), device, progress bars,
             network timeouts
- `data`     named datasets (offline ones ship in PyPI packages) and `get_dls`
- `models`   named backbones (body, head, cut, splitter, stats) and `create_learner`
- `training` the schedules the course teaches (train the head, train all layers, fine-tune, LR finder)
- `layerwise` discriminative rates, gradual unfreezing, L2-SP, and an ablation over seeds
- `shift`    domain shift: corrupted copies of a dataset, accuracy per domain, AdaBN, CORAL, DANN
- `text`     text transfer: a graded tweet corpus and its topics, a sentence encoder that loads offline,
             cached embeddings, and the encoder as a fastai Learner to fine-tune
- `features` embeddings from any layer of a frozen body, cached on disk; linear and k-NN probes
- `evaluate` metrics and comparison tables (pandas, no plotting)
- `exercises` the self-checks of each notebook's exercises (worked solutions: solutions/)
- `plots`    every figure the course shows; each function returns its Figure
- `results`  each notebook's headline figures, gathered by `run`
- `evidence` each notebook run over five seeds (`make evidence`), and the one rule by which a claim holds
- `run`      execute the notebooks with papermill and collect one results table
- `finetune` notebook 02's recipe from the command line, on several GPUs with `accelerate launch`
- `guide`    the instructor guide's timing table, from a run's results

Importing tlcourse applies the course's thread policy (see `runtime.THREADS`).
"""
import warnings

# fastai's layers module calls torch.jit.script, which torch 2.14 deprecates; the
# warning says nothing a learner can act on and would clutter every notebook.
warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.*is deprecated", category=FutureWarning)

from . import evaluate, features, layerwise, plots, runtime, shift, text, training  # noqa: E402
from .data import DATASETS, get_dls, list_datasets, load_items, load_photos, split_items  # noqa: E402
from .models import BACKBONES, create_learner, list_backbones, predict_imagenet  # noqa: E402
from .results import record  # noqa: E402
from .runtime import OfflineError  # noqa: E402

runtime.set_threads()

__all__ = [
    "DATASETS", "get_dls", "list_datasets", "load_items", "load_photos", "split_items",
    "BACKBONES", "create_learner", "list_backbones", "predict_imagenet",
    "record", "OfflineError",
]
