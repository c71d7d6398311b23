#!/usr/bin/env bash
# Written by tuneplan for: torchtune lora (dpo) of llama-3.1-8b on 1 x h100-80gb, seq 2048 tokens, checkpointing on, bf16
# Expected training memory: 24.4 GiB per GPU (tuneplan's estimate; the tool's own peak may differ by a few %).
# Keys: https://pytorch.org/torchtune/stable/deep_dives/configs.html. Replace every FILL-IN value before running.
# torchtune's lora_dpo_single_device recipe with the plan as command-line overrides. Run: bash train.sh
set -euo pipefail

MODEL=meta-llama/Llama-3.1-8B
MODEL_DIR='FILL-IN: a folder for the downloaded model, e.g. ./models/llama-3.1-8b'

OVERRIDES=(
  "checkpointer.checkpoint_dir=${MODEL_DIR}"  # where tune download put the model
  "tokenizer.path=${MODEL_DIR}/original/tokenizer.model"
  batch_size=1
  gradient_accumulation_steps=16  # 16 sequences per optimizer step over 1 GPU(s)
  epochs=1
  optimizer.lr=5e-06
  tokenizer.max_seq_len=2048
  model.lora_rank=16
  model.lora_alpha=32
  model.lora_dropout=0.05
  'model.lora_attn_modules=[q_proj,k_proj,v_proj,output_proj]'  # LoRA on every linear layer, as the memory estimate assumes
  model.apply_lora_to_mlp=True
  enable_activation_checkpointing=True
  dtype=bf16  # torchtune's recipes refuse fp16: bf16, or fp32 on a GPU without bf16
  'dataset._component_=FILL-IN: the dataset builder for the format of your data, e.g. torchtune.datasets.chat_dataset (docs: datasets overview)'
  'dataset.source=FILL-IN: your dataset: a Hub id, or json with dataset.data_files=your.jsonl'
  'output_dir=FILL-IN: where checkpoints and the adapter go, e.g. ./outputs/run-1'
  log_peak_memory_stats=True  # logs the peak to compare with the estimate in RUN.md
)

for value in "$MODEL" "$MODEL_DIR" llama3_1/8B_lora_dpo_single_device "${OVERRIDES[@]}"; do
  case "$value" in *FILL-IN*) echo "train.sh: replace every FILL-IN value first: $value" >&2; exit 1;; esac
done

tune download "$MODEL" --output-dir "$MODEL_DIR"
tune run lora_dpo_single_device --config llama3_1/8B_lora_dpo_single_device "${OVERRIDES[@]}"
