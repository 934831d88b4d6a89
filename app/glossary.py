"""Chinese technical words -> the English the papers use, for lexical matching and routing.

A general vision/ML glossary (not tuned to any question): it lets BM25 see "老師模型" as
"teacher" and "遮擋" as "occlusion" when a question is written in Chinese.
"""

from __future__ import annotations

import re

GLOSSARY: dict[str, str] = {
    "自監督": "self-supervised", "自监督": "self-supervised", "監督": "supervised",
    "對比學習": "contrastive", "对比学习": "contrastive", "對比": "contrastive",
    "知識蒸餾": "knowledge distillation", "蒸餾": "distillation", "蒸馏": "distillation",
    "老師": "teacher", "教師": "teacher", "老师": "teacher", "學生": "student", "学生": "student",
    "損失函數": "loss", "損失": "loss", "损失": "loss", "交叉熵": "cross-entropy",
    "動量": "momentum", "动量": "momentum", "指數移動平均": "exponential moving average EMA",
    "數據集": "dataset data", "数据集": "dataset data", "資料集": "dataset data", "數據": "data", "資料": "data",
    "數據增強": "data augmentation", "增強": "augmentation",
    "去重": "deduplication", "重複": "duplicate", "檢索": "retrieval", "篩選": "curation filtering",
    "圖像": "image", "圖片": "images", "图片": "images", "照片": "photos", "影像": "image", "图像": "image", "視頻": "video", "影片": "video", "视频": "video",
    "幀": "frame", "帧": "frame", "分割": "segmentation", "實例分割": "instance segmentation",
    "語義分割": "semantic segmentation", "全景分割": "panoptic segmentation",
    "目標檢測": "object detection", "檢測": "detection", "分類": "classification", "分类": "classification",
    "深度估計": "depth estimation", "深度": "depth", "邊緣": "edge", "提示": "prompt", "文本": "text",
    "文字": "text", "點": "point", "框": "box", "遮罩": "mask", "掩碼": "mask", "掩膜": "mask",
    "編碼器": "encoder", "编码器": "encoder", "解碼器": "decoder", "解码器": "decoder",
    "注意力": "attention", "記憶": "memory", "记忆": "memory", "記憶體": "memory", "記憶庫": "memory bank",
    "遮擋": "occlusion", "遮挡": "occlusion", "追蹤": "tracking", "跟踪": "tracking", "傳播": "propagate propagation",
    "標註": "annotation annotate", "标注": "annotation", "標註時間": "annotation time", "未標註": "unlabeled",
    "自動": "automatic", "半自動": "semi-automatic", "人工": "manual", "品質": "quality", "質量": "quality",
    "準確": "accuracy", "精度": "accuracy precision", "評估": "evaluation", "指標": "metric",
    "公平": "fairness", "收入": "income", "地區": "region", "性別": "gender",
    "解析度": "resolution", "分辨率": "resolution", "高解析度": "high resolution",
    "多尺度": "multi-scale multiscale", "尺度": "scale", "特徵": "features", "特征": "features",
    "表徵": "representation", "骨幹": "backbone", "主幹": "backbone",
    "訓練": "training train", "训练": "training", "預訓練": "pretraining pre-trained", "微調": "fine-tuning finetune",
    "凍結": "frozen", "线性": "linear", "線性": "linear", "優化器": "optimizer", "學習率": "learning rate",
    "迭代": "iterations", "批次": "batch", "正則化": "regularization", "速度": "speed fps",
    "推理": "inference", "延遲": "latency", "每秒": "per second fps", "記憶體使用": "memory",
    "計算": "compute", "效率": "efficiency efficient", "碳": "carbon", "排放": "emissions",
    "失敗": "failure", "局限": "limitations", "限制": "limitations", "模糊": "ambiguity ambiguous",
    "歧義": "ambiguity", "多個": "multiple", "物件": "object", "物體": "object", "目標": "object",
    "頭": "head", "預測": "prediction predict", "分數": "score", "位置編碼": "positional encoding",
    "時間": "time temporal", "時序": "temporal", "鏡頭": "shot", "擁擠": "crowded", "數量": "number",
    "醫學": "medical", "醫療": "medical", "腦腫瘤": "brain tumor", "零樣本": "zero-shot",
    "少樣本": "few-shot", "視覺": "visual vision", "語言": "language", "多模態": "multimodal",
    "相對": "relative", "相对": "relative", "絕對": "absolute", "網路": "network", "網絡": "network",
    "网络": "network", "更新": "update", "參數": "parameters", "参数": "parameters", "驗證": "validate verify",
    "預設": "default", "默認": "default", "階段": "stage phase", "阶段": "stage phase", "硬體": "hardware GPU",
    "收集": "collected collection", "來源": "source", "偏差": "bias", "偏見": "bias", "膚色": "skin tone",
    "邊緣偵測": "edge detection", "邊緣檢測": "edge detection", "碳排放": "carbon emissions", "層": "layers",
    "輸出": "output", "輸入": "input", "標籤": "labels", "架構": "architecture", "模型": "model",
    "比較": "comparison compared", "結果": "results", "實驗": "experiments", "消融": "ablation",
    "容量": "capacity", "位置": "position positional", "查詢": "query", "互動": "interactive",
    "交互": "interactive", "點擊": "click clicks", "半監督": "semi-supervised", "遷移": "transfer",
    "蒸餾模型": "distilled model", "大小": "size", "規模": "scale", "年齡": "age", "地理": "geographic",
    "正確": "correct", "錯誤": "error", "人類": "human", "標註員": "annotators", "專業": "professional",
}

_KEYS = sorted(GLOSSARY, key=len, reverse=True)


def expand_chinese_terms(text: str) -> list[str]:
    """English renderings of the glossary words found in `text`, longest match first."""
    found: list[str] = []
    i = 0
    while i < len(text):
        for key in _KEYS:
            if text.startswith(key, i):
                found.append(GLOSSARY[key])
                i += len(key)
                break
        else:
            i += 1
    return found


_CJK_RUN = re.compile(r"[\u3400-\u9fff]+")


def english_view(text: str) -> str:
    """The question as the papers would word it, without an LLM: its English words kept in
    place, each glossary word replaced by its English, other Chinese dropped. A second dense
    query for Chinese questions: the multilingual embedder matches it to English passages
    more sharply than the mixed-language original."""

    def render(run: re.Match) -> str:
        return " " + " ".join(expand_chinese_terms(run.group(0))) + " "

    english = _CJK_RUN.sub(render, text)
    english = re.sub(r"[\u3000-\u303f\uff00-\uffef]", " ", english)  # CJK punctuation
    return re.sub(r"\s+", " ", english).strip()
