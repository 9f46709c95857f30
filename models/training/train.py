#!/usr/bin/python3
"""Trains the reference mercury CNN on tensors exported by `quicksilver dataset`.

Run with Debian's /usr/bin/python3 (torch 1.13, onnx, numpy):

    /usr/bin/python3 models/training/train.py --data DATASET_DIR --out models/mercury-cnn/1.0.0

Reads dataset.json + <split>.f32/.labels/.truth.jsonl, trains a 4-block CNN on `train`, keeps the
checkpoint with the best `val` accuracy, exports ONNX (opset 17, dynamic batch, input "image",
output "logits"), measures it on the held-out `test` split and writes model.onnx, manifest.json,
golden.json and MODEL_CARD.md into --out. The tensors were produced by the worker's own
preprocessInto(), so nothing here resizes or normalizes images.
"""
import argparse
import datetime
import hashlib
import json
import os
import time

import numpy as np
import onnx
import torch
from torch import nn

LABELS = ["clean", "contaminated"]


class MercuryCnn(nn.Module):
    """4 × (Conv3×3 + BN + ReLU + MaxPool2) with 16/32/64/128 channels, global average pool, Linear -> 2 logits."""

    def __init__(self):
        super().__init__()
        layers, channels = [], 3
        for width in (16, 32, 64, 128):
            layers += [nn.Conv2d(channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True), nn.MaxPool2d(2)]
            channels = width
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(channels, len(LABELS))

    def forward(self, image):
        return self.classifier(torch.flatten(self.pool(self.features(image)), 1))


def load_split(data_dir, description, split):
    spec = description["splits"][split]
    t = description["tensor"]
    tensors = np.fromfile(os.path.join(data_dir, spec["files"]["tensors"]), dtype="<f4")
    tensors = tensors.reshape(spec["count"], t["channels"], t["height"], t["width"])
    labels = np.fromfile(os.path.join(data_dir, spec["files"]["labels"]), dtype=np.uint8).astype(np.int64)
    with open(os.path.join(data_dir, spec["files"]["truth"])) as handle:
        truth = [json.loads(line) for line in handle if line.strip()]
    assert len(labels) == len(truth) == spec["count"], f"{split}: counts disagree"
    return torch.from_numpy(tensors), torch.from_numpy(labels), truth


@torch.no_grad()
def predict_logits(model, tensors, batch=64):
    model.eval()
    return torch.cat([model(tensors[i:i + batch]) for i in range(0, len(tensors), batch)])


def metrics(labels, scores, threshold):
    """Counts and ratios computed exactly as `quicksilver evaluate` computes them."""
    predicted = scores >= threshold
    positive = labels == 1
    tp = int(np.sum(predicted & positive))
    fp = int(np.sum(predicted & ~positive))
    tn = int(np.sum(~predicted & ~positive))
    fn = int(np.sum(~predicted & positive))
    n = tp + fp + tn + fn
    return {
        "accuracy": (tp + tn) / n,
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "recall": tp / (tp + fn) if tp + fn else 0.0,
        "f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0,
        "confusion": {"tp": tp, "fp": fp, "tn": tn, "fn": fn},
    }


def threshold_table(labels, scores, thresholds=(0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.7)):
    """Validation trade-off per threshold, for operators who weigh misses against false alarms differently."""
    rows = []
    for threshold in thresholds:
        m = metrics(labels, scores, threshold)
        c = m["confusion"]
        rows.append({"threshold": threshold, **m, "falseAlarmRate": c["fp"] / (c["fp"] + c["tn"]) if c["fp"] + c["tn"] else 0.0})
    return rows


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="folder written by `quicksilver dataset`")
    parser.add_argument("--out", default="models/mercury-cnn/1.0.0")
    parser.add_argument("--epochs", type=int, default=24)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--threshold", type=float, default=0.5, help="decision threshold on the contaminated probability")
    parser.add_argument("--name", default="mercury-cnn")
    parser.add_argument("--version", default="1.0.0")
    args = parser.parse_args()

    torch.set_num_threads(os.cpu_count() or 1)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    torch.use_deterministic_algorithms(True)

    with open(os.path.join(args.data, "dataset.json")) as handle:
        description = json.load(handle)
    train_x, train_y, _ = load_split(args.data, description, "train")
    val_x, val_y, _ = load_split(args.data, description, "val")
    test_x, test_y, test_truth = load_split(args.data, description, "test")
    print(f"train {len(train_y)} ({int(train_y.sum())} contaminated), val {len(val_y)}, test {len(test_y)}", flush=True)

    model = MercuryCnn()
    parameters = sum(p.numel() for p in model.parameters())
    # Inverse-frequency class weights: contaminated sheets are the minority and a missed one is the costly error.
    positives = float(train_y.sum())
    weights = torch.tensor([len(train_y) / (2 * (len(train_y) - positives)), len(train_y) / (2 * positives)], dtype=torch.float32)
    loss_fn = nn.CrossEntropyLoss(weight=weights)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    steps_per_epoch = (len(train_y) + args.batch - 1) // args.batch
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.lr, epochs=args.epochs, steps_per_epoch=steps_per_epoch)
    generator = torch.Generator().manual_seed(args.seed)

    history, best = [], None
    for epoch in range(1, args.epochs + 1):
        started = time.time()
        model.train()
        order = torch.randperm(len(train_y), generator=generator)
        total_loss = 0.0
        for start in range(0, len(order), args.batch):
            index = order[start:start + args.batch]
            images = train_x[index]
            flip = torch.rand(len(index), generator=generator) < 0.5  # mirror half of the sheets
            images = torch.where(flip[:, None, None, None], images.flip(3), images)
            optimizer.zero_grad()
            loss = loss_fn(model(images), train_y[index])
            loss.backward()
            optimizer.step()
            schedule.step()
            total_loss += float(loss) * len(index)
        val_logits = predict_logits(model, val_x)
        val_loss = float(nn.functional.cross_entropy(val_logits, val_y, weight=weights))
        val_accuracy = float((val_logits.argmax(1) == val_y).float().mean())
        seconds = time.time() - started
        history.append({"epoch": epoch, "trainLoss": total_loss / len(order), "valLoss": val_loss, "valAccuracy": val_accuracy, "seconds": seconds})
        improved = best is None or val_accuracy > best["valAccuracy"] or (val_accuracy == best["valAccuracy"] and val_loss < best["valLoss"])
        if improved:
            best = {"epoch": epoch, "valAccuracy": val_accuracy, "valLoss": val_loss, "state": {k: v.clone() for k, v in model.state_dict().items()}}
        print(f"epoch {epoch:2d}  train loss {total_loss / len(order):.4f}  val loss {val_loss:.4f}  val acc {val_accuracy:.4f}  {seconds:.1f} s{'  *' if improved else ''}", flush=True)

    model.load_state_dict(best["state"])
    model.eval()
    os.makedirs(args.out, exist_ok=True)
    onnx_path = os.path.join(args.out, "model.onnx")
    torch.onnx.export(model, torch.zeros(1, 3, val_x.shape[2], val_x.shape[3]), onnx_path, opset_version=17,
                      input_names=["image"], output_names=["logits"],
                      dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}}, do_constant_folding=True)
    onnx.checker.check_model(onnx.load(onnx_path))

    val_scores = torch.softmax(predict_logits(model, val_x), 1)[:, 1].numpy().astype(np.float64)
    args.val_table = threshold_table(val_y.numpy(), val_scores)
    for row in args.val_table:
        print(f"validation at threshold {row['threshold']}: accuracy {row['accuracy']:.4f} precision {row['precision']:.4f} "
              f"recall {row['recall']:.4f} false alarms {row['falseAlarmRate']:.4f}", flush=True)

    test_logits = predict_logits(model, test_x)
    scores = torch.softmax(test_logits, 1)[:, 1].numpy().astype(np.float64)
    labels = test_y.numpy()
    result = metrics(labels, scores, args.threshold)
    margin = float(np.min(np.abs(scores - args.threshold)))
    edges = np.linspace(0, 1, 21)
    counts, _ = np.histogram(scores, bins=edges)
    severities = np.array([t["severity"] for t in test_truth])
    missed = sorted(float(severities[i]) for i in range(len(labels)) if labels[i] == 1 and scores[i] < args.threshold)
    print(f"held-out test: {json.dumps(result)}  (closest score to threshold: {margin:.2e})", flush=True)
    print(f"missed contaminated sheets, by severity: {missed}", flush=True)

    test_spec = {k: description["splits"]["test"][k] for k in ("seed", "count", "contaminatedFraction", "width", "height", "format", "quality", "shift")}
    manifest = {
        "schemaVersion": 1,
        "name": args.name,
        "version": args.version,
        "description": "Reference CNN (4 conv blocks, GAP, 2 logits) flagging mercury-stained herbarium sheets. "
                       "Trained and evaluated on SYNTHETIC sheets only (quicksilver synth), not on real mercury data.",
        "file": "model.onnx",
        "sha256": sha256(onnx_path),
        "input": {"name": "image", "layout": "NCHW", "shape": [-1, 3, int(val_x.shape[2]), int(val_x.shape[3])], "dtype": "float32"},
        "output": {"name": "logits", "kind": "logits"},
        "preprocessing": description["preprocessing"],
        "labels": LABELS,
        "positiveLabel": "contaminated",
        "threshold": args.threshold,
        "validation": {
            "dataset": (f"synthetic held-out test split: quicksilver synth set seed {test_spec['seed']}, {test_spec['count']} sheets "
                        f"{test_spec['width']}x{test_spec['height']} {test_spec['format']} q{test_spec['quality']}, "
                        f"contaminated fraction {test_spec['contaminatedFraction']}, shift {test_spec['shift']}"),
            "images": len(labels),
            "accuracy": result["accuracy"],
            "precision": result["precision"],
            "recall": result["recall"],
            "f1": result["f1"],
            "confusion": result["confusion"],
            "synthetic": test_spec,
        },
        "referenceScores": {"binEdges": [round(float(e), 2) for e in edges], "counts": [int(c) for c in counts]},
        "trainedAt": datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "modelCard": "MODEL_CARD.md",
    }
    with open(os.path.join(args.out, "manifest.json"), "w") as handle:
        json.dump(manifest, handle, indent=2)
        handle.write("\n")

    # Golden set: 4 clean and 4 contaminated held-out sheets (the contaminated ones spread over severity).
    clean = [i for i in range(len(labels)) if labels[i] == 0][:4]
    stained = sorted((i for i in range(len(labels)) if labels[i] == 1), key=lambda i: test_truth[i]["severity"])
    picks = clean + [stained[round(k * (len(stained) - 1) / 3)] for k in range(4)]
    golden = {
        "description": "Held-out test sheets regenerated from their synth seed and options; logits are PyTorch's at training time "
                       "on tensors made by preprocessInto(). Served logits must match them to 1e-4.",
        "model": f"{args.name}@{args.version}",
        "tolerance": 1e-4,
        "images": [{
            "setSeed": test_spec["seed"], "index": i, "barcode": test_truth[i]["barcode"],
            "render": {"seed": test_truth[i]["seed"], "contaminated": test_truth[i]["contaminated"], "width": test_truth[i]["width"],
                       "height": test_truth[i]["height"], "format": test_spec["format"], "quality": test_spec["quality"], "shift": test_truth[i]["shift"]},
            "severity": test_truth[i]["severity"],
            "logits": [float(v) for v in test_logits[i]],
        } for i in picks],
    }
    with open(os.path.join(args.out, "golden.json"), "w") as handle:
        json.dump(golden, handle, indent=2)
        handle.write("\n")

    write_model_card(args, description, manifest, result, history, best, parameters, margin, missed, weights)
    print(f"wrote {args.out}: model.onnx ({os.path.getsize(onnx_path)} bytes), manifest.json, golden.json, MODEL_CARD.md", flush=True)


def write_model_card(args, description, manifest, result, history, best, parameters, margin, missed, weights):
    splits = description["splits"]
    c = result["confusion"]
    epoch_seconds = np.mean([h["seconds"] for h in history])
    rows = "\n".join(f"| {h['epoch']} | {h['trainLoss']:.4f} | {h['valLoss']:.4f} | {h['valAccuracy']:.4f} | {h['seconds']:.0f} |" for h in history)
    split_rows = "\n".join(
        f"| {name} | {s['seed']} | {s['count']} | {s['contaminated']} | {s['width']}×{s['height']} {s['format']} q{s['quality']} |"
        for name, s in splits.items())
    sheet = splits["train"]
    val_rows = "\n".join(f"| {r['threshold']} | {r['accuracy']:.4f} | {r['precision']:.4f} | {r['recall']:.4f} | {r['falseAlarmRate']:.4f} |" for r in args.val_table)
    card = f"""# Model card: {args.name} {args.version}

**Trained and evaluated on synthetic sheets only.** Every image this model has seen was drawn by
`quicksilver synth` (common/src/synth): procedurally generated herbarium sheets with a simulated
mercury stain. It has never seen a real mercury-contaminated specimen; its figures below say how
well it separates *our synthetic* stains from clean synthetic sheets, nothing about real ones.
It is the reference model that lets the system (worker, golden tests, drift monitoring) run end to
end; a production model must be trained and validated on curator-confirmed (XRF-tested) real sheets.

## What it does
Input: a whole sheet resized to 256×256 (sharp, kernel `linear`, fit `fill`), RGB, normalized
`(x/255 - 0.5) / 0.25`, NCHW float32, tensor name `image`, dynamic batch. Output `logits` for
`["clean", "contaminated"]`; score = softmax probability of `contaminated`; flagged when
score ≥ **{args.threshold}**.

Architecture: 4 × (Conv3×3 + BatchNorm + ReLU + MaxPool2) with 16/32/64/128 channels, global
average pool, Linear(128 → 2); {parameters:,} parameters. ONNX opset 17, BatchNorm folded.

## Data
Sheets of {sheet['width']}×{sheet['height']} px, JPEG q{sheet['quality']}, expected contaminated
fraction {sheet['contaminatedFraction']}, no acquisition shift. Splits use distinct set seeds (train = seed,
val = seed + 1, test = seed + 2) and share no sheet:

| split | set seed | sheets | contaminated | sheet format |
|---|---|---|---|---|
{split_rows}

Stain severity is drawn per sheet, uniform in [0.04, 1) (below ~0.15 a stain is nearly invisible
at 256×256, as real faint contamination is); clean and stained sheets
share benign look-alikes (nearly black-brown leaves, foxing, dust, water stains, grey smudges away
from the plant).

## Training
AdamW (lr {args.lr}, one-cycle schedule, weight decay 1e-4), batch {args.batch}, {args.epochs} epochs,
horizontal flips, inverse-frequency class weights ({float(weights[0]):.3f} clean, {float(weights[1]):.3f}
contaminated: a missed contaminated sheet is the costly error), torch seed {args.seed}. The
checkpoint with the best validation accuracy was kept: **epoch {best['epoch']}** (val accuracy
{best['valAccuracy']:.4f}). Mean epoch time {epoch_seconds:.0f} s on the 2-core development machine.

| epoch | train loss | val loss | val accuracy | seconds |
|---|---|---|---|---|
{rows}

## Held-out test results (split `test`, {manifest['validation']['images']} sheets, threshold {args.threshold})
| metric | value |
|---|---|
| accuracy | {result['accuracy']:.4f} |
| precision | {result['precision']:.4f} |
| recall | {result['recall']:.4f} |
| F1 | {result['f1']:.4f} |

Confusion matrix: TP {c['tp']}, FP {c['fp']}, TN {c['tn']}, FN {c['fn']} (positive = contaminated).
Severities of the missed contaminated sheets: {', '.join(f'{s:.3f}' for s in missed) or 'none'}.
Closest test score to the threshold: {margin:.1e} (so ONNX Runtime reproduces every decision).

Threshold: **{args.threshold}** on the softmax score. A missed contaminated sheet is the costly
error (it is handled bare-handed); the inverse-frequency class weights already move the 0.5
boundary towards recall. A lower threshold buys more recall with false alarms (each one an XRF
check): at a real prevalence of 2–5 %, a false-alarm rate of 10 % on clean sheets means several
false alarms per contaminated sheet found. The trade-off on the **validation** split (the test
split played no part in it), for operators who weigh it differently:

| threshold | accuracy | precision | recall | false-alarm rate (clean sheets flagged) |
|---|---|---|---|---|
{val_rows}

## Known limitations
- Synthetic only: real mercury staining, paper, plants, scanners and lighting differ; expect the
  real-world accuracy to be unknown until measured on XRF-confirmed sheets (NMNH reached 92 % on
  real whole sheets at 256×256 with a similar input size).
- Misses are concentrated on the faintest synthetic stains (see severities above); real faint or
  invisible contamination (common: it is often only found by UV or XRF) will be missed too.
- Trained on one sheet size and JPEG quality without acquisition shift; `quicksilver synth --shift
  paper-tone|illumination` produces drifted sheets for drift experiments, on which it was not evaluated.
- Whole-sheet 256×256 input: stains smaller than a few pixels after the resize are invisible to it.

## Reproduce
```
npm run build
node bin/quicksilver.js dataset --out /tmp/qs-dataset --train {splits['train']['count']} --val {splits['val']['count']} --test {splits['test']['count']} --seed {splits['train']['seed']}
/usr/bin/python3 models/training/train.py --data /tmp/qs-dataset --out models/{args.name}/{args.version} --epochs {args.epochs} --batch {args.batch} --lr {args.lr} --seed {args.seed}
node bin/quicksilver.js evaluate --manifest models/{args.name}/{args.version}/manifest.json
```
The evaluate command regenerates the test split from its seed, runs the served preprocessing and
ONNX Runtime, and must print exactly the figures above. The dataset is bit-identical on every
run; training uses fixed seeds and deterministic algorithms (two runs on the development machine
gave a bit-identical model.onnx), though other CPUs or torch builds may differ in the last bits.
"""
    with open(os.path.join(args.out, "MODEL_CARD.md"), "w") as handle:
        handle.write(card)


if __name__ == "__main__":
    main()
