# Jupyter with the notebook, train.py and report.py on the official TensorFlow GPU image.
#
#   docker build -t fashion-mnist-lab .
#   mkdir -p runs/docker
#   docker run --gpus all -p 127.0.0.1:8888:8888 -p 127.0.0.1:6006:6006 \
#       -v "$PWD/runs/docker:/data" -v "$PWD/results:/workspace/results" fashion-mnist-lab
#
# runs/docker (ignored by git and by this image) receives the dataset, checkpoints and logs; the
# repository's own data/ is the loading code, never a volume.
#
# Jupyter asks for a token: the log prints a URL with a random one, or set your own with
# -e JUPYTER_TOKEN=... (keep it secret).
FROM tensorflow/tensorflow:2.21.0-gpu-jupyter

WORKDIR /workspace

# Requirements before the code, so that editing the code reuses the installed packages.
COPY requirements.txt .
RUN python3 -m pip install --no-cache-dir -r requirements.txt

COPY . .

# Dataset, checkpoints and TensorBoard logs live on the /data volume and outlive the container;
# run records stay beside the code, where report.py reads them.
ENV DATA_PATH=/data/fashion-mnist \
    DL_MODELS_PATH=/data/models \
    TB_LOGS_PATH=/data/tb \
    RESULTS_PATH=/workspace/results \
    TF_CPP_MIN_LOG_LEVEL=2
VOLUME /data

# 8888: Jupyter; 6006: TensorBoard (tensorboard --logdir /data/tb --host 0.0.0.0)
EXPOSE 8888 6006

# The base image runs as root, hence --allow-root. Token authentication stays on.
CMD ["jupyter", "lab", "--ip=0.0.0.0", "--port=8888", "--no-browser", "--allow-root", \
     "--ServerApp.root_dir=/workspace"]
