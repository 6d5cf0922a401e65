"""Built-in loggers (driver-side callbacks): TensorBoard and MLflow, each an optional extra.

    pip install 'raysha[tensorboard]'   # TensorBoardLogger (writes with torch.utils.tensorboard)
    pip install 'raysha[mlflow]'        # MLflowLogger (a local file store by default)

The modules import their library when a logger is created, so this package imports
without them.
"""

from raysha.loggers.mlflow_logger import MLflowLogger
from raysha.loggers.tensorboard_logger import TensorBoardLogger

__all__ = ["MLflowLogger", "TensorBoardLogger"]
