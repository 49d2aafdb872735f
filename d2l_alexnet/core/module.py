"""What every backend's ``Module``/``Classifier`` shares, without a framework (d2l, sec_oo-design).

Each backend's ``Classifier`` implements ``loss``, ``accuracy``, ``training_step``,
``validation_step``, ``configure_optimizers`` and ``layer_outputs``; this mixin turns the last
into the book's ``layer_summary`` printout, so all four print the same way.
"""

from .hyperparameters import HyperParameters


class ModuleContract(HyperParameters):
    """Framework-free half of ``Module``: the book's steps, written once, and the summary.

    ``training_step``/``validation_step`` call the model on a batch ``(inputs..., labels)`` and
    score it with ``loss``; backends whose calls need more (a ``training=`` flag, parameters)
    override them.
    """

    def loss(self, y_hat, y):
        raise NotImplementedError

    def training_step(self, batch):
        return self.loss(self(*batch[:-1]), batch[-1])

    def validation_step(self, batch):
        return self.loss(self(*batch[:-1]), batch[-1])

    def layer_outputs(self, X_shape):
        """Yield ``(layer name, printable output shape)`` for a random input of ``X_shape``."""
        raise NotImplementedError

    def summary_lines(self, X_shape):
        """The book's ``layer_summary`` lines: ``'<Layer> output shape:\\t <shape>'``."""
        return [f"{name} output shape:\t {shape}" for name, shape in self.layer_outputs(X_shape)]

    def layer_summary(self, X_shape):
        """Print each layer's output shape for an input of ``X_shape`` (d2l, sec_lenet)."""
        for line in self.summary_lines(X_shape):
            print(line)
