"""DCNv2 in plain PyTorch against a direct per-pixel reference."""

import pytest
import torch
import torch.nn.functional as F

from vidpose.models.deform import ModulatedDeformConv2d, _tv_deform_conv2d, deform_conv2d, deform_conv2d_reference


def per_pixel(x, offset, mask, weight, bias, padding, dilation, stride=1):
    B, C, H, W = x.shape
    Cout, _, kh, kw = weight.shape
    K = kh * kw
    G = offset.shape[1] // (2 * K)
    Ho, Wo = offset.shape[2:]
    out = x.new_zeros(B, Cout, Ho, Wo)
    for b in range(B):
        for i in range(Ho):
            for j in range(Wo):
                acc = x.new_zeros(Cout)
                for k in range(K):
                    ki, kj = divmod(k, kw)
                    for g in range(G):
                        dy = offset[b, 2 * (g * K + k), i, j]
                        dx = offset[b, 2 * (g * K + k) + 1, i, j]
                        y = i * stride - padding + ki * dilation + dy
                        xx = j * stride - padding + kj * dilation + dx
                        chans = slice(g * C // G, (g + 1) * C // G)
                        v = _bilinear_t(x[b, chans], y, xx)
                        acc = acc + weight[:, chans, ki, kj] @ v * mask[b, g * K + k, i, j]
                out[b, :, i, j] = acc + (bias if bias is not None else 0)
    return out


def _bilinear_t(img, y, x):
    """img (C, H, W) at a real point (differentiable); neighbours outside the image read zero."""
    C, H, W = img.shape
    y0, x0 = torch.floor(y), torch.floor(x)
    out = img.new_zeros(C)
    for dy in (0, 1):
        for dx in (0, 1):
            yy, xx = int(y0) + dy, int(x0) + dx
            if 0 <= yy < H and 0 <= xx < W:
                out = out + img[:, yy, xx] * (1 - (y - yy).abs()) * (1 - (x - xx).abs())
    return out


@pytest.mark.parametrize("groups,dilation,padding", [(1, 1, 1), (2, 1, 1), (1, 2, 2)])
def test_matches_the_per_pixel_reference_in_values_and_gradients(groups, dilation, padding):
    torch.manual_seed(groups + dilation)
    x = torch.randn(1, 4, 5, 6, dtype=torch.float64, requires_grad=True)
    Ho, Wo = 5 + 2 * padding - 2 * dilation, 6 + 2 * padding - 2 * dilation
    offset = (torch.randn(1, 2 * groups * 9, Ho, Wo, dtype=torch.float64) * 1.5).requires_grad_()
    mask = torch.rand(1, groups * 9, Ho, Wo, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(3, 4, 3, 3, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(3, dtype=torch.float64, requires_grad=True)
    ours = deform_conv2d_reference(x, offset, mask, weight, bias, padding=padding, dilation=dilation)
    ref = per_pixel(x, offset, mask, weight, bias, padding, dilation)
    torch.testing.assert_close(ours, ref)
    g = torch.randn_like(ref)
    grads_ours = torch.autograd.grad((ours * g).sum(), [x, offset, mask, weight, bias])
    grads_ref = torch.autograd.grad((ref * g).sum(), [x, offset, mask, weight, bias])
    for a, b in zip(grads_ours, grads_ref):
        torch.testing.assert_close(a, b)


def test_zero_offsets_and_unit_masks_are_a_plain_convolution():
    torch.manual_seed(0)
    x = torch.randn(2, 6, 9, 7)
    weight = torch.randn(5, 6, 3, 3)
    offset = torch.zeros(2, 18, 9, 7)
    mask = torch.ones(2, 9, 9, 7)
    torch.testing.assert_close(deform_conv2d_reference(x, offset, mask, weight, padding=1),
                               F.conv2d(x, weight, padding=1), rtol=1e-4, atol=1e-5)


def test_an_integer_offset_shifts_the_sampling():
    x = torch.arange(25.0).view(1, 1, 5, 5)
    weight = torch.zeros(1, 1, 3, 3)
    weight[0, 0, 1, 1] = 1.0  # centre tap only
    offset = torch.zeros(1, 18, 5, 5)
    offset[:, 2 * 4 + 1] = 1.0  # centre tap, dx = +1
    out = deform_conv2d_reference(x, offset, None, weight, padding=1)
    assert out[0, 0, 2, 2].item() == x[0, 0, 2, 3].item()
    assert out[0, 0, 2, 4].item() == 0.0  # sampled outside the image


@pytest.mark.skipif(_tv_deform_conv2d is None, reason="torchvision is not installed (it is optional)")
def test_agrees_with_torchvision_when_present():
    torch.manual_seed(0)
    x, weight = torch.randn(2, 4, 8, 8), torch.randn(6, 4, 3, 3)
    offset, mask = torch.randn(2, 36, 8, 8), torch.rand(2, 18, 8, 8)
    torch.testing.assert_close(deform_conv2d(x, offset, mask, weight, padding=1),
                               deform_conv2d_reference(x, offset, mask, weight, padding=1), rtol=1e-4, atol=1e-4)


def test_exports_to_onnx_and_runs_in_onnxruntime(tmp_path):
    """DCNv2 is plain PyTorch (grid_sample), so the ONNX exporter takes it and onnxruntime
    reproduces it (GridSample needs opset 16 or later)."""
    import warnings

    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    layer = ModulatedDeformConv2d(8, 8, 3, padding=1, offset_groups=2).eval()
    x, offset, mask = torch.randn(1, 8, 12, 10), torch.randn(1, 36, 12, 10) * 2, torch.randn(1, 18, 12, 10)
    path = tmp_path / "dcn.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's tracer and deprecation notices
        torch.onnx.export(layer, (x, offset, mask), str(path), opset_version=18, dynamo=False)
    onnx.checker.check_model(onnx.load(str(path)))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {i.name: v.numpy() for i, v in zip(session.get_inputs(), (x, offset, mask))})
    with torch.no_grad():
        expected = layer(x, offset, mask).numpy()
    assert abs(out - expected).max() < 1e-4
