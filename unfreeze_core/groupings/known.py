"""The model families unfreeze-core knows, as data (see :class:`~.family.Family`).

Each entry says how to recognise a family from its layer names and where its natural
blocks are; the default plugin registers every one under its ``name``. Names are those
of ``keras.applications`` (Keras 3) and ``keras_hub`` models; ``(?:^|/)`` anchors a
pattern at the start of a layer's own name, so a backbone nested in a user's model
(``resnet50/conv2_block1_1_conv``) is recognised too.
"""

from __future__ import annotations

from .family import Family

__all__ = ["FAMILIES"]

_S = r"(?:^|/)"  # the start of a layer's name within its path

RESNET = Family(
    name="resnet", title="ResNet", source="keras.applications",
    detect=(_S + r"conv2_block1_1_conv$", _S + r"conv5_block\d+_"),
    exclude=(_S + r"pool\d_conv$",),
    blocks=(("conv{0}", _S + r"conv(\d)_"), ("conv5", _S + r"post_(?:bn|relu)$")),
    notes="ResNet and ResNetV2: `conv1` (the stem), `conv2` ... `conv5` (the four "
    "stages of residual blocks, shortcuts included; V2's final `post_bn` in `conv5`), "
    "then the head.",
)

VGG = Family(
    name="vgg", title="VGG", source="keras.applications",
    detect=(_S + r"block1_conv1$", _S + r"block5_conv1$"),
    blocks=(("block{0}", _S + r"block(\d)_conv\d$"),),
    notes="`block1` ... `block5` (the convolutions between two poolings), then the head "
    "(`fc1`, `fc2` and `predictions` with `include_top=True`).",
)

EFFICIENTNET = Family(
    name="efficientnet", title="EfficientNet", source="keras.applications",
    detect=(_S + r"stem_conv$", _S + r"block1a_", _S + r"block\d+[a-z]_dwconv$"),
    exclude=(_S + r"block\d+[a-z]_dwconv2$",),
    blocks=(("stem", _S + r"stem_"), ("block{0}", _S + r"block(\d+)[a-z]+_"),
            ("top", _S + r"top_")),
    notes="`stem`, `block1` ... `block7` (the seven MBConv stages), `top` (the 1x1 "
    "convolution before pooling), head.",
)

EFFICIENTNET_V2 = Family(
    name="efficientnet_v2", title="EfficientNetV2", source="keras.applications",
    detect=(_S + r"stem_conv$", _S + r"block1a_", _S + r"block\d+[a-z]_dwconv2$"),
    blocks=(("stem", _S + r"stem_"), ("block{0}", _S + r"block(\d+)[a-z]+_"),
            ("top", _S + r"top_")),
    notes="`stem`, `block1` ... `block6` (`block7` for the L variant: the fused and "
    "MBConv stages), `top`, head.",
)

MOBILENET = Family(
    name="mobilenet", title="MobileNet", source="keras.applications",
    detect=(_S + r"conv_dw_1$", _S + r"conv_pw_13$"),
    blocks=(
        ("stem", _S + r"conv1$"),
        ("stem", _S + r"conv_(?:dw|pw)_1(?:_bn)?$"),
        ("blocks_2-3", _S + r"conv_(?:dw|pw)_[23](?:_bn)?$"),
        ("blocks_4-5", _S + r"conv_(?:dw|pw)_[45](?:_bn)?$"),
        ("blocks_6-11", _S + r"conv_(?:dw|pw)_(?:[6-9]|1[01])(?:_bn)?$"),
        ("blocks_12-13", _S + r"conv_(?:dw|pw)_1[23](?:_bn)?$"),
        ("stem", _S + r"conv1_bn$"),
    ),
    notes="By resolution: `stem` (the first convolution and block 1), then one group "
    "per stride-2 stage: `blocks_2-3`, `blocks_4-5`, `blocks_6-11`, `blocks_12-13`; head.",
)

MOBILENET_V2 = Family(
    name="mobilenet_v2", title="MobileNetV2", source="keras.applications",
    detect=(_S + r"block_1_expand$", _S + r"block_16_project$"),
    blocks=(
        ("stem", _S + r"(?:bn_)?Conv1(?:_relu)?$"),
        ("stem", _S + r"expanded_conv_"),
        ("blocks_1-2", _S + r"block_[12]_"),
        ("blocks_3-5", _S + r"block_[3-5]_"),
        ("blocks_6-12", _S + r"block_(?:[6-9]|1[0-2])_"),
        ("blocks_13-16", _S + r"block_1[3-6]_"),
        ("top", _S + r"(?:Conv_1|Conv_1_bn)$"),
    ),
    notes="By resolution: `stem` (first convolution and block 0), `blocks_1-2`, "
    "`blocks_3-5`, `blocks_6-12`, `blocks_13-16` (each starts with a stride-2 block), "
    "`top` (the last 1x1 convolution), head.",
)

MOBILENET_V3_SMALL = Family(
    name="mobilenet_v3_small", title="MobileNetV3Small", source="keras.applications",
    detect=(_S + r"expanded_conv_10_project$", _S + r"expanded_conv_1_expand$"),
    exclude=(_S + r"expanded_conv_11_",),
    blocks=(
        ("stem", _S + r"conv(?:_bn)?$"),
        ("stem", _S + r"expanded_conv_(?!\d)"),
        ("blocks_1-2", _S + r"expanded_conv_[12]_"),
        ("blocks_3-7", _S + r"expanded_conv_[3-7]_"),
        ("blocks_8-10", _S + r"expanded_conv_(?:[89]|10)_"),
        ("top", _S + r"conv_1(?:_bn)?$"),
    ),
    notes="By resolution: `stem` (first convolution and block 0), `blocks_1-2`, "
    "`blocks_3-7`, `blocks_8-10`, `top` (the last 1x1 convolution), head.",
)

MOBILENET_V3_LARGE = Family(
    name="mobilenet_v3_large", title="MobileNetV3Large", source="keras.applications",
    detect=(_S + r"expanded_conv_14_project$", _S + r"expanded_conv_1_expand$"),
    blocks=(
        ("stem", _S + r"conv(?:_bn)?$"),
        ("stem", _S + r"expanded_conv_(?!\d)"),
        ("blocks_1-2", _S + r"expanded_conv_[12]_"),
        ("blocks_3-5", _S + r"expanded_conv_[3-5]_"),
        ("blocks_6-11", _S + r"expanded_conv_(?:[6-9]|1[01])_"),
        ("blocks_12-14", _S + r"expanded_conv_1[2-4]_"),
        ("top", _S + r"conv_1(?:_bn)?$"),
    ),
    notes="By resolution: `stem` (first convolution and block 0), `blocks_1-2`, "
    "`blocks_3-5`, `blocks_6-11`, `blocks_12-14`, `top`, head.",
)

CONVNEXT = Family(
    name="convnext", title="ConvNeXt", source="keras.applications",
    detect=(r"_stem_conv$", r"_stage_0_block_0_depthwise_conv$", r"_downsampling_block_0"),
    blocks=(
        ("stem", r"_stem(?:/|_|$)"),
        ("stage_0", r"_stage_0_"),
        ("stage_1", r"_stage_1_|_downsampling_block_0(?:/|$)"),
        ("stage_2", r"_stage_2_|_downsampling_block_1(?:/|$)"),
        ("stage_3", r"_stage_3_|_downsampling_block_2(?:/|$)"),
    ),
    notes="`stem`, `stage_0` ... `stage_3` (each with the downsampling layers that open "
    "it), head (the final layer normalisation and the classifier).",
)

DENSENET = Family(
    name="densenet", title="DenseNet", source="keras.applications",
    detect=(_S + r"conv2_block1_1_conv$", _S + r"pool2_conv$"),
    blocks=(("conv1", _S + r"conv1_"), ("conv{0}", _S + r"conv(\d)_block"),
            ("pool{0}", _S + r"pool(\d)_"), ("conv5", _S + r"bn$")),
    notes="`conv1` (the stem), then each dense block and the transition after it: "
    "`conv2`, `pool2`, `conv3`, `pool3`, `conv4`, `pool4`, `conv5` (with the final "
    "`bn`), head.",
)

XCEPTION = Family(
    name="xception", title="Xception", source="keras.applications",
    detect=(_S + r"block1_conv1$", _S + r"block14_sepconv2$"),
    blocks=(("block{0}", _S + r"block(\d+)_"),),
    notes="`block1` (the stem) ... `block4` (entry flow), `block5` ... `block12` (middle "
    "flow), `block13`, `block14` (exit flow); each residual shortcut joins its block.",
)

BERT = Family(
    name="bert", title="BERT-family encoder", source="keras_hub",
    detect=(_S + r"transformer_layer_\d+/self_attention_layer/",),
    blocks=(
        ("embeddings", _S + r"(?:token|position|segment)_embedding$"),
        ("embeddings", _S + r"embeddings(?:_layer_norm)?(?:/|$)"),
        ("embeddings", _S + r"token_and_position_embedding(?:/|$)"),
        ("transformer_layer_{0}", _S + r"transformer_layer_(\d+)/"),
    ),
    notes="BERT, RoBERTa, DistilBERT, ...: `embeddings` (token, position and segment "
    "embeddings and their normalisation), `transformer_layer_0` ... (one group per "
    "layer), head (`pooled_dense` and the classifier).",
)

DECODER_LM = Family(
    name="decoder_lm", title="decoder language model", source="keras_hub",
    detect=(_S + r"token_embedding$", _S + r"(?:decoder_block|transformer_layer)_\d+/"),
    exclude=(_S + r"transformer_layer_\d+/self_attention_layer/",),
    blocks=(
        ("token_embedding", _S + r"(?:token|position)_embedding$"),
        ("{0}_{1}", _S + r"(decoder_block|transformer_layer)_(\d+)/"),
        ("final_norm", _S + r"(?:final_normalization|sequence_output_layernorm|layer_norm)$"),
    ),
    notes="Gemma, Llama, Mistral, GPT-2 and kin: `token_embedding`, one group per "
    "decoder layer, `final_norm`, head.",
)

VIT = Family(
    name="vit", title="ViT", source="keras_hub",
    detect=(_S + r"vit_encoder/transformer_block_\d+/",),
    blocks=(
        ("embeddings", _S + r"vit_patching_and_embedding(?:/|$)"),
        ("transformer_block_{0}", _S + r"transformer_block_(\d+)/"),
        ("final_norm", _S + r"vit_encoder/ln$"),
    ),
    notes="`embeddings` (patches, class token, positions), one group per transformer "
    "block, `final_norm`, head.",
)

CLIP_VISION = Family(
    name="clip_vision", title="CLIP-style image encoder", source="keras_hub",
    detect=(_S + r"encoder_block_\d+/attention/", _S + r"embedding/patch_embedding$"),
    blocks=(
        ("embeddings", _S + r"(?:embedding(?:/|$)|pre_layer_norm$)"),
        ("encoder_block_{0}", _S + r"encoder_block_(\d+)/"),
        ("final_norm", _S + r"layer_norm$"),
    ),
    notes="`embeddings` (patches, positions, the pre-norm), one group per encoder "
    "block, `final_norm`, head.",
)

#: Every family the default plugin registers, in the order ``Auto`` tries them.
FAMILIES: tuple[Family, ...] = (
    RESNET, VGG, EFFICIENTNET, EFFICIENTNET_V2, MOBILENET, MOBILENET_V2,
    MOBILENET_V3_SMALL, MOBILENET_V3_LARGE, CONVNEXT, DENSENET, XCEPTION,
    BERT, DECODER_LM, VIT, CLIP_VISION,
)
