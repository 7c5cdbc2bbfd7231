"""The seed tutorial's Deep Lake + LangChain example, running on Shoal, offline.

Only the import lines and the store's constructor changed: Shoal's embeddings (the
packaged MiniLM model) stand in for OpenAIEmbeddings, ShoalVectorStore for DeepLake,
and ShoalChatModel (Shoal's extractive answerer, or a local GGUF model) for ChatOpenAI.
LangChain 1.x moved RetrievalQA to langchain-classic and the splitter to
langchain-text-splitters (`Chain.run` still works there, with a deprecation warning).

    python examples/langchain_seed.py [DATASET_PATH] [LLM]

e.g. ``python examples/langchain_seed.py ./kb local:gemma3-270m``.
"""

import sys

from langchain_classic.chains import RetrievalQA
from langchain_text_splitters import RecursiveCharacterTextSplitter

from shoal.integrations.langchain import ShoalChatModel, ShoalEmbeddings, ShoalVectorStore

# create our documents
texts = [
    "Napoleon Bonaparte was born in 15 August 1769",
    "Louis XIV was born in 5 September 1638",
    "Lady Gaga was born in 28 March 1986",
    "Michael Jeffrey Jordan was born in 17 February 1963",
]
text_splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=0)
docs = text_splitter.create_documents(texts)

# initialize embeddings model
embeddings = ShoalEmbeddings()

# create the dataset (a local folder here, where the seed had hub://<org>/<name>)
dataset_path = sys.argv[1] if len(sys.argv) > 1 else "./langchain_course_embeddings"
db = ShoalVectorStore(dataset_path=dataset_path, embedding_function=embeddings)

# add documents to our dataset
db.add_documents(docs)

# create retriever from db
retriever = db.as_retriever()

# instantiate the llm wrapper
model = ShoalChatModel(llm=sys.argv[2] if len(sys.argv) > 2 else "extractive")

# create the question-answering chain
qa_chain = RetrievalQA.from_llm(model, retriever=retriever)

# ask a question to the chain
print(qa_chain.run("When was Michael Jordan born?"))
