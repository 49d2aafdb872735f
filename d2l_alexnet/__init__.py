"""d2l_alexnet: the AlexNet chapter of *Dive into Deep Learning* as a tested library.

Importing this package imports no deep-learning framework. Pick one the way the book does::

    from d2l_alexnet import torch as d2l        # or tensorflow, jax, mxnet
    model = d2l.AlexNet(lr=0.01)
    data = d2l.FashionMNIST(batch_size=128, resize=(224, 224))
    d2l.Trainer(max_epochs=10, num_gpus=1).fit(model, data)
"""

__version__ = "0.1.0"
