#!/usr/bin/env bash
# The GPU checks the benchmarks name, in one run of at most 8 minutes on one GPU (each check has a time limit):
#   SimCLR images/s (Leyden vs plain PyTorch) and the augmentation's share of a step;
#   CURL with the paper's settings (84 px, batch 512) for a few thousand env steps;
#   RL² on pixel mazes: env steps/s of training on the device;
#   GPT-2 small (bf16) on the bundled corpus: tokens/s of causal-LM pretraining;
#   sharded causal-LM pretraining (FSDP2 through ModelParallelStrategy, bf16) runs on the GPU;
#   AlphaZero on Connect Four: self-play positions/s with the network on the device.
#
#   bash benchmarks/gpu_checks.sh [OUT_DIR]      # OUT_DIR (default: $OUT or gpu_checks/) gets the JSONs and logs
#
# Nothing here installs anything (a GPU machine may have no network): the Python found first must have torch
# with CUDA and the plugins' dependencies. The repository's packages are imported from packages/*/src when
# they are not installed. Each check has its own time limit; one failing does not stop the others.
set -u
cd "$(dirname "$0")/.."
out="${1:-${OUT:-gpu_checks}}"
mkdir -p "$out"
python="${PYTHON:-python}"
export PYTHONPATH="packages/core/src:packages/selfsup/src:packages/rl/src:packages/sim/src${PYTHONPATH:+:$PYTHONPATH}"
export WANDB_MODE=disabled MUJOCO_GL=egl

check() {  # check NAME SECONDS COMMAND...
  local name=$1 limit=$2
  shift 2
  echo "== $name (limit ${limit} s): $*"
  local start=$SECONDS
  timeout "$limit" "$@" >"$out/$name.log" 2>&1
  local rc=$?
  tail -n 6 "$out/$name.log"
  echo "== $name: exit $rc after $((SECONDS - start)) s"
}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
"$python" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"

check simclr_throughput 90 "$python" benchmarks/selfsup_throughput.py --device cuda --steps 20 --repeats 3
cp benchmarks/results/selfsup_throughput_gpu.json "$out/" 2>/dev/null

check curl_paper 120 "$python" benchmarks/curl_dmc.py --protocol paper --device cuda --tasks cartpole-swingup \
  --seeds 1 --env-steps 4000 --jobs 1 --out "$out/curl_paper_check.json"

# 20 iterations of 256 two-episode trials (1,024,000 env steps): env steps/s = 1024000 / the seconds it prints
check rl2_maze_speed 90 "$python" -m leyden_core.cli fit --config examples/rl/rl2_maze.yaml \
  --trainer.accelerator gpu --trainer.devices 1 --trainer.logger false --trainer.enable_progress_bar false \
  --trainer.default_root_dir "$out/rl2_maze" --model.total_env_steps 1024000

# 300 optimizer steps of 2 x 16 sequences of 1,024 tokens (9.8M tokens): tokens/s = 9830400 / the seconds it prints
check gpt2_small_speed 90 "$python" -m leyden_core.cli fit --config examples/selfsup/gpt_small_user_corpus_gpu.yaml \
  --data.source stdlib --data.path null --trainer.max_steps 300 --trainer.val_check_interval null \
  --trainer.limit_val_batches 0 --trainer.logger false --trainer.enable_progress_bar false \
  --trainer.default_root_dir "$out/gpt2_small"

# 20 steps of the bundled-corpus GPT recipe with its weights sharded per block (one GPU: a mesh of one)
check gpt_sharded 45 "$python" -m leyden_core.cli fit --config examples/selfsup/gpt_stdlib.yaml \
  --trainer.accelerator gpu --trainer.devices 1 --trainer.strategy ModelParallelStrategy \
  --trainer.strategy.data_parallel_size 1 --trainer.strategy.tensor_parallel_size 1 \
  --trainer.strategy.save_distributed_checkpoint false --trainer.precision bf16-mixed --trainer.max_steps 20 \
  --trainer.logger false --trainer.enable_progress_bar false --trainer.default_root_dir "$out/gpt_sharded"

# 40,000 self-play moves of 64 parallel games: positions/s = 40000 / the seconds it prints
check alphazero_connect4_speed 45 "$python" -m leyden_core.cli fit --config examples/rl/alphazero_connect4.yaml \
  --trainer.accelerator gpu --trainer.devices 1 --trainer.logger false --trainer.enable_progress_bar false \
  --trainer.callbacks null --trainer.default_root_dir "$out/alphazero_c4" --model.total_env_steps 40000

echo "== done; results in $out"
