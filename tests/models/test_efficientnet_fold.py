"""``fold_for_inference``: folding batch norms and symmetric 'SAME' padding into the convs is exact (fp32)."""

import pytest

torch = pytest.importorskip("torch")
lib = pytest.importorskip("efficientnet_lite_pytorch")


@pytest.mark.parametrize("batch_norm", [True, False])
def test_folded_network_computes_the_same_outputs(batch_norm):
    from vocabfree.models.efficientnet_lite import fold_for_inference

    torch.manual_seed(0)
    net = lib.EfficientNet.from_name("efficientnet-lite0").eval()
    for module in net.modules():  # non-trivial running statistics, so a wrong fold would show
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.2, 0.2)
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        before = net(x)
    pads = sum(isinstance(m, torch.nn.ZeroPad2d) for m in net.modules())
    fold_for_inference(net, batch_norm=batch_norm)
    with torch.no_grad():
        after = net(x)
    assert torch.allclose(before, after, atol=1e-4, rtol=1e-4)
    assert sum(isinstance(m, torch.nn.ZeroPad2d) for m in net.modules()) < pads  # symmetric pads are gone
    left = sum(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())
    assert (left == 0) if batch_norm else (left > 0)
