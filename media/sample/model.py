"""The PyTorch definition of resnet_style.onnx, ModelFuse's sample model.

Open it in VS Code with ModelFuse installed: a CodeLens above each class lists the sequences that
torch.ao.quantization.fuse_modules can fuse, and flags `relu`, one nn.ReLU module called from five
places, which fuse_modules would replace by Identity everywhere.

    model = ResStyle().eval()
    torch.onnx.export(model, torch.randn(1, 3, 16, 16), "resnet_style.onnx",
                      input_names=["x"], output_names=["y"], opset_version=17)
"""
import torch
from torch import nn


class ResStyle(nn.Module):
    def __init__(self, channels: int = 16, classes: int = 8) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, channels, kernel_size=3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU()
        self.blocks = nn.ModuleList([Block(channels) for _ in range(2)])
        self.head = nn.Sequential(
            nn.Conv2d(channels, classes, kernel_size=1),
            nn.BatchNorm2d(classes),
            nn.ReLU(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        x = self.bn1(x)
        x = self.relu(x)
        for block in self.blocks:
            out = self.relu(block.bn1(block.conv1(x)))
            out = block.bn2(block.conv2(out))
            x = self.relu(out + x)
        return self.head(x)


class Block(nn.Module):
    """The layers of a residual block; ResStyle.forward runs them with its one shared ReLU."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, kernel_size=3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, kernel_size=3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
