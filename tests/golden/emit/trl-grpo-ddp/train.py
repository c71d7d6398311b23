"""Written by tuneplan for: trl lora (grpo) of qwen2.5-7b on 2 x h100-80gb, ddp, seq 2048 tokens, checkpointing on, bf16

Expected training memory: 19.9 GiB per GPU (tuneplan's estimate; the tool's own peak may differ by a few %).
Fill in what is marked FILL-IN, then: accelerate launch --config_file accelerate.yaml train.py
"""
import torch
from datasets import load_dataset
from peft import LoraConfig
from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig
from trl import GRPOConfig, GRPOTrainer

MODEL = 'Qwen/Qwen2.5-7B'
DATASET = 'FILL-IN: a Hub id or local path of a prompt-only dataset (prompt)'

CONFIG = {
    'output_dir': 'FILL-IN: where checkpoints and the adapter go, e.g. ./outputs/run-1',
    'max_completion_length': "FILL-IN: tokens generated per completion (prompt + completion within the plan's 2048)",
    'per_device_train_batch_size': 1,
    'gradient_accumulation_steps': 8,
    'num_train_epochs': 1,
    'learning_rate': 5e-06,
    'lr_scheduler_type': 'cosine',
    'bf16': True,
    'fp16': False,
    'gradient_checkpointing': True,
    'use_vllm': True,
    'vllm_mode': 'colocate',  # generation shares the GPUs, as the plan's memory fit assumes
    'vllm_gpu_memory_utilization': 0.3,  # the share of each GPU the plan leaves vLLM
    'logging_steps': 10,
    'report_to': 'none',
}
LORA = {
    'r': 16,
    'lora_alpha': 32,
    'lora_dropout': 0.05,
    'target_modules': 'all-linear',
    'task_type': 'CAUSAL_LM',
}
QUANTIZATION = {}
DTYPE = torch.bfloat16


def reward(completions, **kwargs):
    raise NotImplementedError("FILL-IN: return one score per completion")


def main() -> None:
    model_kwargs = {"torch_dtype": DTYPE}
    if QUANTIZATION:
        model_kwargs["quantization_config"] = BitsAndBytesConfig(bnb_4bit_compute_dtype=DTYPE, **QUANTIZATION)
    model = AutoModelForCausalLM.from_pretrained(MODEL, **model_kwargs)
    tokenizer = AutoTokenizer.from_pretrained(MODEL)
    dataset = load_dataset(DATASET, split="train")
    trainer = GRPOTrainer(
        model=model,
        args=GRPOConfig(**CONFIG),
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=LoraConfig(**LORA) if LORA else None,
        reward_funcs=[reward],  # FILL-IN: the reward function below
    )
    trainer.train()
    trainer.save_model()


if __name__ == "__main__":
    main()
