# vllm-sr built-in profile "balance" — the routing section in the DSL.
# Generated once from balance.yaml with `vllm-sr dsl decompile`; both files are kept in step by
# a test (crates/vsr-dsl/tests/it/reference.rs). Build the full config with:
#   vllm-sr dsl compile profiles/balance/balance.dsl --base profiles/balance/balance.yaml
# =============================================================================
# SIGNALS
# =============================================================================

SIGNAL keyword verify_cues {
  operator: "OR"
  case_sensitive: false
  keywords: ["verify", "fact-check", "fact check", "cite", "citation", "citations", "source", "sources", "evidence", "is it true", "核实", "出处", "来源", "引用", "是真的吗"]
}

SIGNAL keyword correction_cues {
  operator: "OR"
  case_sensitive: false
  keywords: ["that's wrong", "that is wrong", "incorrect", "wrong answer", "you made a mistake", "not correct", "try again", "错了", "不对", "答错了", "重新回答"]
}

SIGNAL keyword clarification_cues {
  operator: "OR"
  case_sensitive: false
  keywords: ["more clearly", "simpler", "confusing", "i don't understand", "explain again", "what do you mean", "example", "没听懂", "说清楚", "简单点", "什么意思", "举个例子"]
}

SIGNAL keyword urgency_cues {
  operator: "OR"
  case_sensitive: false
  keywords: ["urgent", "asap", "right now", "immediately", "emergency", "quickly", "紧急", "马上", "立刻", "尽快"]
}

SIGNAL keyword positive_cues {
  operator: "OR"
  case_sensitive: false
  keywords: ["thank you", "thanks", "love", "excited", "happy", "wonderful", "great news", "谢谢", "太好了", "开心"]
}

SIGNAL keyword negative_cues {
  operator: "OR"
  case_sensitive: false
  keywords: ["frustrated", "angry", "upset", "worried", "anxious", "stressed", "sad", "overwhelmed", "烦", "焦虑", "难过", "崩溃"]
}

SIGNAL keyword legal_cues {
  operator: "OR"
  case_sensitive: false
  keywords: ["contract", "clause", "liability", "indemnity", "indemnification", "compliance", "regulatory", "lawsuit", "gdpr", "jurisdiction", "合同", "条款", "合规", "法律风险"]
}

SIGNAL keyword proof_cues {
  operator: "OR"
  case_sensitive: false
  keywords: ["prove", "proof", "derive", "derivation", "theorem", "lemma", "rigorous", "证明", "推导"]
}

SIGNAL keyword reasoning_cues {
  operator: "OR"
  case_sensitive: false
  keywords: ["argue", "trade-offs", "tradeoffs", "weigh", "step by step", "reason through", "justify", "论证", "权衡", "分析利弊"]
}

SIGNAL keyword architecture_cues {
  operator: "OR"
  case_sensitive: false
  keywords: ["architecture", "system design", "distributed", "scalability", "microservices", "sharding", "replication", "fault tolerance", "架构", "分布式", "高可用"]
}

SIGNAL keyword agentic_cues {
  operator: "OR"
  case_sensitive: false
  keywords: ["runbook", "rollout", "migration plan", "checklist", "milestones", "rollback", "phases", "execution plan", "实施计划", "回滚", "分阶段"]
}

SIGNAL keyword code_cues {
  operator: "OR"
  case_sensitive: false
  keywords: ["code", "function", "bug", "debug", "stack trace", "compile", "python", "rust", "javascript", "sql", "regex", "api", "代码", "函数", "报错"]
}

SIGNAL keyword creative_cues {
  operator: "OR"
  case_sensitive: false
  keywords: ["poem", "story", "slogan", "tagline", "lyrics", "brainstorm", "creative", "fiction", "写诗", "诗歌", "故事", "文案", "创意"]
}

SIGNAL keyword philosophy_cues {
  operator: "OR"
  case_sensitive: false
  keywords: ["ethics", "ethical", "morality", "moral", "free will", "metaphysics", "epistemology", "consciousness", "personal identity", "哲学", "伦理", "道德", "自由意志", "意识"]
}

SIGNAL keyword business_cues {
  operator: "OR"
  case_sensitive: false
  keywords: ["market size", "market share", "revenue", "profit margin", "growth rate", "pricing", "customers", "startup", "市场规模", "市场份额", "营收", "利润", "增长率", "定价", "电商", "行业"]
}

SIGNAL keyword simple_cues {
  operator: "OR"
  case_sensitive: false
  keywords: ["briefly", "in one sentence", "quick question", "short answer", "what is", "who is", "define", "简单说", "一句话", "是什么"]
}

SIGNAL embedding fast_qa_en {
  threshold: 0.7
  aggregation_method: "max"
  candidates: ["What is the capital of Japan?", "How many days are in a leap year?", "Who wrote Romeo and Juliet?", "What does HTTP stand for?", "What is the freezing point of water?"]
}

SIGNAL embedding fast_qa_zh {
  threshold: 0.7
  aggregation_method: "max"
  candidates: ["日本的首都是哪里？", "闰年有多少天？", "谁写了《罗密欧与朱丽叶》？", "HTTP 是什么的缩写？", "水的冰点是多少度？"]
}

SIGNAL embedding legal_analysis {
  threshold: 0.68
  aggregation_method: "max"
  candidates: ["Review this contract for liability and indemnification risks.", "Analyze the compliance exposure of our data-sharing agreement.", "What legal risks does this licensing clause create for us?", "分析这份合同的赔偿条款和合规风险。"]
}

SIGNAL embedding architecture_design {
  threshold: 0.66
  aggregation_method: "max"
  candidates: ["Design a highly available system that handles millions of requests per second.", "Propose an architecture for a multi-region event streaming platform.", "How should we partition and replicate data in a distributed database?", "设计一个高可用的分布式系统架构。"]
}

SIGNAL embedding agentic_workflows {
  threshold: 0.66
  aggregation_method: "max"
  candidates: ["Write a step-by-step rollout plan with owners, checkpoints and rollback criteria.", "Plan the migration in phases and validate each phase before moving on.", "Break this project into tasks with dependencies and acceptance checks.", "制定分阶段的迁移计划，包含负责人和回滚方案。"]
}

SIGNAL embedding code_help {
  threshold: 0.66
  aggregation_method: "max"
  candidates: ["Why does my Python script raise a KeyError here?", "Write a function that reverses a linked list.", "Fix the bug in this JavaScript snippet.", "帮我看看这段代码为什么报错。"]
}

SIGNAL embedding business_analysis {
  threshold: 0.66
  aggregation_method: "max"
  candidates: ["Analyze the unit economics of our subscription business.", "Compare the market entry strategies for a new product line.", "How does raising prices affect demand and revenue?", "分析一下这家公司的商业模式和盈利能力。"]
}

SIGNAL embedding health_guidance {
  threshold: 0.66
  aggregation_method: "max"
  candidates: ["What are the common side effects of this medication?", "How should high blood pressure be managed?", "What does the research say about intermittent fasting?", "高血压患者应该注意什么？"]
}

SIGNAL embedding history_explainer {
  threshold: 0.66
  aggregation_method: "max"
  candidates: ["What caused the fall of the Western Roman Empire?", "Explain the consequences of the Industrial Revolution.", "Compare the causes of the two World Wars.", "唐朝为什么会衰落？"]
}

SIGNAL embedding psychology_support {
  threshold: 0.66
  aggregation_method: "max"
  candidates: ["Why do people procrastinate even when they know it hurts them?", "How does cognitive behavioral therapy work?", "What explains confirmation bias?", "为什么人会拖延？"]
}

SIGNAL embedding creative_writing {
  threshold: 0.66
  aggregation_method: "max"
  candidates: ["Write a short poem about the autumn sea.", "Brainstorm taglines for a coffee brand.", "Write the opening scene of a mystery story.", "写一首关于秋天的诗。"]
}

SIGNAL embedding deep_reasoning {
  threshold: 0.66
  aggregation_method: "max"
  candidates: ["Reason step by step through the trade-offs and justify your conclusion.", "Weigh the strongest arguments on both sides and decide which is better.", "Work through this multi-step problem carefully before answering.", "一步一步推理并论证你的结论。"]
}

SIGNAL embedding philosophy_argument {
  threshold: 0.66
  aggregation_method: "max"
  candidates: ["Is morality objective, or is it a product of culture?", "Can we know anything with certainty, or is all knowledge provisional?", "Is it ever right to lie to protect someone you love?", "是否存在客观的道德真理？"]
}

SIGNAL embedding stem_research {
  threshold: 0.66
  aggregation_method: "max"
  candidates: ["Explain the quantum mechanics behind semiconductor band gaps in depth.", "Derive the rate law for this reaction mechanism and discuss its assumptions.", "Compare the experimental evidence for competing models of protein folding.", "深入解释相对论中的时间膨胀及其实验证据。"]
}

SIGNAL structure numbered_steps {
  description: "Numbered list items (\"1. ...\")."
  feature: { type: "exists", source: { type: "regex", pattern: "(?m)^\\s*\\d+[.)]\\s+" } }
}

SIGNAL structure ordered_flow {
  description: "Ordered workflow words (\"first ... then\")."
  feature: { type: "sequence", source: { type: "sequence", case_sensitive: false, sequences: [["first", "then"], ["first", "next", "finally"], ["首先", "然后"], ["先", "再"]] } }
}

SIGNAL structure many_questions {
  description: "Several explicit questions."
  feature: { type: "count", source: { type: "regex", pattern: "[?？]" } }
  predicate: { gte: 3 }
}

SIGNAL structure exclamations {
  description: "Repeated exclamation marks."
  feature: { type: "count", source: { type: "regex", pattern: "[!！]" } }
  predicate: { gte: 2 }
}

SIGNAL context short_context {
  min_tokens: "0"
  max_tokens: "999"
}

SIGNAL context medium_context {
  min_tokens: "1K"
  max_tokens: "7999"
}

SIGNAL context long_context {
  min_tokens: "8K"
  max_tokens: "256K"
}

SIGNAL language en {
  description: "English"
}

SIGNAL language zh {
  description: "Chinese"
}

SIGNAL domain biology {
  description: "Biology and life sciences."
}

SIGNAL domain business {
  description: "Business, management, marketing and operations."
}

SIGNAL domain chemistry {
  description: "Chemistry."
}

SIGNAL domain "computer science" {
  description: "Programming, software and computing systems."
}

SIGNAL domain economics {
  description: "Economics, markets and policy."
}

SIGNAL domain engineering {
  description: "Engineering disciplines."
}

SIGNAL domain health {
  description: "Health and medicine."
}

SIGNAL domain history {
  description: "History."
}

SIGNAL domain law {
  description: "Law, compliance and regulation."
}

SIGNAL domain math {
  description: "Mathematics."
}

SIGNAL domain other {
  description: "Everything else."
}

SIGNAL domain philosophy {
  description: "Philosophy and ethics."
}

SIGNAL domain physics {
  description: "Physics."
}

SIGNAL domain psychology {
  description: "Psychology and behaviour."
}

SIGNAL complexity general_reasoning {
  threshold: 0.1
  description: "Synthesis-heavy reasoning versus quick answers."
  hard: { candidates: ["weigh competing arguments and justify a conclusion", "analyze a complex problem from first principles", "compare several approaches and their trade-offs in depth"] }
  easy: { candidates: ["give a one-line definition", "answer a quick factual question", "summarize briefly"] }
}

SIGNAL complexity code_task {
  threshold: 0.1
  description: "Systems work versus small code help."
  composer: { operator: "AND", conditions: [{ type: "domain", name: "computer science" }] }
  hard: { candidates: ["design a fault-tolerant distributed service", "debug a concurrency issue in production"] }
  easy: { candidates: ["fix a small bug in a short function", "explain what this snippet does"] }
}

SIGNAL complexity math_task {
  threshold: 0.1
  description: "Formal proofs versus arithmetic."
  composer: { operator: "AND", conditions: [{ type: "domain", name: "math" }] }
  hard: { candidates: ["prove the theorem rigorously", "derive the closed form step by step"] }
  easy: { candidates: ["add two numbers", "compute a simple percentage"] }
}

SIGNAL complexity legal_risk {
  threshold: 0.1
  description: "Risk analysis versus legal definitions."
  composer: { operator: "AND", conditions: [{ type: "domain", name: "law" }] }
  hard: { candidates: ["analyze liability and compliance exposure in a contract", "assess regulatory risk across jurisdictions"] }
  easy: { candidates: ["define a legal term", "what does this legal abbreviation mean"] }
}

SIGNAL fact_check needs_fact_check {
  description: "Claims and questions whose answer should be checked against sources."
}

SIGNAL user_feedback wrong_answer {
  description: "The user says the previous answer was wrong."
}

SIGNAL user_feedback need_clarification {
  description: "The user asks for a clearer or simpler restatement."
}

SIGNAL preference coding_partner {
  description: "Wants code written, fixed or reviewed."
  threshold: 0.66
  examples: ["write the code for me", "debug this with me", "review my pull request", "帮我写代码"]
}

SIGNAL preference creative_collaboration {
  description: "Wants imaginative options."
  threshold: 0.66
  examples: ["give me several creative ideas", "make it more vivid", "给我几个创意"]
}

SIGNAL preference agentic_execution {
  description: "Wants an actionable plan."
  threshold: 0.66
  examples: ["give me an execution plan", "turn this into a task list", "给我一个执行计划"]
}

SIGNAL jailbreak jailbreak_guard {
  method: "classifier"
  threshold: 0.7
  include_history: false
  description: "Prompt-injection and jailbreak attempts."
}

SIGNAL pii pii_sensitive {
  threshold: 0.8
  include_history: false
  pii_types_allowed: ["EMAIL_ADDRESS", "PERSON", "LOCATION"]
  description: "Government ids, cards, bank accounts and secrets."
}

# =============================================================================
# PROJECTIONS
# =============================================================================

PROJECTION partition domain_partition {
  semantics: "softmax_exclusive"
  temperature: 0.1
  members: ["biology", "business", "chemistry", "computer science", "economics", "engineering", "health", "history", "law", "math", "other", "philosophy", "physics", "psychology"]
  default: "other"
}

PROJECTION score difficulty_score {
  method: "weighted_sum"
  inputs: [{ type: "keyword", name: "simple_cues", weight: -0.2, value_source: "confidence" }, { type: "embedding", name: "fast_qa_en", weight: -0.15, value_source: "confidence" }, { type: "embedding", name: "fast_qa_zh", weight: -0.15, value_source: "confidence" }, { type: "context", name: "medium_context", weight: 0.1 }, { type: "context", name: "long_context", weight: 0.3 }, { type: "structure", name: "numbered_steps", weight: 0.08 }, { type: "structure", name: "ordered_flow", weight: 0.08 }, { type: "structure", name: "many_questions", weight: 0.08 }, { type: "keyword", name: "reasoning_cues", weight: 0.2, value_source: "confidence" }, { type: "keyword", name: "proof_cues", weight: 0.25, value_source: "confidence" }, { type: "keyword", name: "architecture_cues", weight: 0.15, value_source: "confidence" }, { type: "keyword", name: "agentic_cues", weight: 0.15, value_source: "confidence" }, { type: "complexity", name: "general_reasoning:hard", weight: 0.25 }, { type: "complexity", name: "general_reasoning:easy", weight: -0.15 }, { type: "complexity", name: "code_task:hard", weight: 0.2 }, { type: "complexity", name: "math_task:hard", weight: 0.25 }, { type: "complexity", name: "legal_risk:hard", weight: 0.2 }]
}

PROJECTION score verification_pressure {
  method: "weighted_sum"
  inputs: [{ type: "fact_check", name: "needs_fact_check", weight: 0.25 }, { type: "keyword", name: "verify_cues", weight: 0.3, value_source: "confidence" }, { type: "user_feedback", name: "wrong_answer", weight: 0.15 }, { type: "domain", name: "health", weight: 0.05 }, { type: "domain", name: "law", weight: 0.05 }]
}

PROJECTION score urgency_pressure {
  method: "weighted_sum"
  inputs: [{ type: "keyword", name: "urgency_cues", weight: 0.3, value_source: "confidence" }, { type: "structure", name: "exclamations", weight: 0.15 }]
}

PROJECTION score emotion_valence {
  method: "weighted_sum"
  inputs: [{ type: "keyword", name: "positive_cues", weight: 0.3, value_source: "confidence" }, { type: "keyword", name: "negative_cues", weight: -0.3, value_source: "confidence" }]
}

PROJECTION mapping difficulty_band {
  source: "difficulty_score"
  method: "threshold_bands"
  outputs: [{ name: "band_simple", lt: 0.1 }, { name: "band_medium", gte: 0.1, lt: 0.35 }, { name: "band_complex", gte: 0.35, lt: 0.6 }, { name: "band_reasoning", gte: 0.6 }]
}

PROJECTION mapping verification_band {
  source: "verification_pressure"
  method: "threshold_bands"
  outputs: [{ name: "verification_standard", lt: 0.25 }, { name: "verification_required", gte: 0.25 }]
}

PROJECTION mapping urgency_band {
  source: "urgency_pressure"
  method: "threshold_bands"
  outputs: [{ name: "urgency_standard", lt: 0.25 }, { name: "urgency_elevated", gte: 0.25 }]
}

PROJECTION mapping emotion_band {
  source: "emotion_valence"
  method: "threshold_bands"
  outputs: [{ name: "emotion_negative", lte: -0.2 }, { name: "emotion_positive", gte: 0.2 }]
}

# =============================================================================
# MODELS
# =============================================================================

MODEL qwen/qwen3.5-rocm {
  description: "SIMPLE tier. Free self-hosted default for quick answers and everyday traffic."
  capabilities: ["fast_qa", "general_chat", "code_help"]
  tags: ["tier:simple", "cost:free"]
}

MODEL google/gemini-2.5-flash-lite {
  description: "MEDIUM tier. Cheap and expressive; creative work and evidence-aware overviews."
  capabilities: ["creative_writing", "explanation"]
  tags: ["tier:medium", "cost:low"]
}

MODEL google/gemini-3.1-pro {
  description: "COMPLEX tier. Systems design, hard STEM, execution plans."
  capabilities: ["architecture", "stem", "planning"]
  tags: ["tier:complex", "cost:mid"]
}

MODEL openai/gpt5.4 {
  description: "REASONING tier. Proofs, philosophy, long multi-step arguments."
  capabilities: ["reasoning", "proofs"]
  tags: ["tier:reasoning", "cost:high"]
}

MODEL anthropic/claude-opus-4.6 {
  description: "PREMIUM tier. Legal and other high-risk analysis only."
  capabilities: ["legal_analysis"]
  tags: ["tier:premium", "cost:highest"]
}

# =============================================================================
# ROUTES
# =============================================================================

ROUTE premium_legal (description = "High-risk legal and compliance analysis.") {
  PRIORITY 260
  TIER 1
  WHEN (domain("law") OR keyword("legal_cues") OR embedding("legal_analysis")) AND (embedding("legal_analysis") OR complexity("legal_risk:hard") OR projection("verification_required")) AND NOT (user_feedback("wrong_answer") OR keyword("correction_cues"))
  MODEL "anthropic/claude-opus-4.6" (reasoning = true, effort = "high")
  PLUGIN router_replay {
    enabled: true
    max_records: 100000
    capture_request_body: true
    capture_response_body: false
    max_body_bytes: 4096
  }
}

ROUTE reasoning_math (description = "Proofs, derivations and hard math.") {
  PRIORITY 250
  TIER 2
  WHEN domain("math") AND (keyword("proof_cues") OR complexity("math_task:hard") OR projection("band_reasoning"))
  MODEL "openai/gpt5.4" (reasoning = true, effort = "high")
  PLUGIN router_replay {
    enabled: true
    max_records: 100000
    capture_request_body: true
    capture_response_body: false
    max_body_bytes: 4096
  }
}

ROUTE reasoning_philosophy (description = "Philosophy that needs sustained argument.") {
  PRIORITY 245
  TIER 3
  WHEN (domain("philosophy") OR embedding("philosophy_argument") OR keyword("philosophy_cues")) AND (keyword("reasoning_cues") OR embedding("deep_reasoning") OR complexity("general_reasoning:hard"))
  MODEL "openai/gpt5.4" (reasoning = true, effort = "high")
  PLUGIN router_replay {
    enabled: true
    max_records: 100000
    capture_request_body: true
    capture_response_body: false
    max_body_bytes: 4096
  }
}

ROUTE complex_agentic (description = "Execution plans, migrations and runbooks.") {
  PRIORITY 243
  TIER 4
  WHEN (embedding("agentic_workflows") OR keyword("agentic_cues") OR preference("agentic_execution")) AND (projection("band_complex") OR projection("band_reasoning") OR structure("numbered_steps") OR structure("ordered_flow") OR keyword("agentic_cues") AND embedding("agentic_workflows")) AND NOT keyword("architecture_cues")
  MODEL "google/gemini-3.1-pro" (reasoning = false)
  PLUGIN router_replay {
    enabled: true
    max_records: 100000
    capture_request_body: true
    capture_response_body: false
    max_body_bytes: 4096
  }
}

ROUTE complex_architecture (description = "Systems and architecture design.") {
  PRIORITY 240
  TIER 5
  WHEN (domain("computer science") OR domain("engineering")) AND (embedding("architecture_design") OR keyword("architecture_cues")) AND (projection("band_complex") OR projection("band_reasoning"))
  MODEL "google/gemini-3.1-pro" (reasoning = false)
  PLUGIN router_replay {
    enabled: true
    max_records: 100000
    capture_request_body: true
    capture_response_body: false
    max_body_bytes: 4096
  }
}

ROUTE complex_stem (description = "Hard STEM synthesis outside pure math.") {
  PRIORITY 235
  TIER 6
  WHEN (domain("physics") OR domain("chemistry") OR domain("biology") OR domain("engineering") OR embedding("stem_research")) AND (embedding("stem_research") OR projection("band_complex") OR projection("band_reasoning"))
  MODEL "google/gemini-3.1-pro" (reasoning = true, effort = "high")
  PLUGIN router_replay {
    enabled: true
    max_records: 100000
    capture_request_body: true
    capture_response_body: false
    max_body_bytes: 4096
  }
}

ROUTE feedback_wrong_answer_verified (description = "Corrections on evidence-sensitive follow-ups.") {
  PRIORITY 232
  TIER 7
  WHEN (user_feedback("wrong_answer") OR keyword("correction_cues")) AND (context("short_context") OR context("medium_context")) AND (projection("verification_required") OR keyword("verify_cues"))
  MODEL "google/gemini-3.1-pro" (reasoning = false)
  PLUGIN router_replay {
    enabled: true
    max_records: 100000
    capture_request_body: true
    capture_response_body: false
    max_body_bytes: 4096
  }
}

ROUTE medium_code_general (description = "Everyday coding help.") {
  PRIORITY 220
  TIER 8
  WHEN (domain("computer science") OR embedding("code_help") OR keyword("code_cues") OR preference("coding_partner")) AND (projection("band_simple") OR projection("band_medium") OR projection("band_complex")) AND NOT embedding("architecture_design")
  MODEL "qwen/qwen3.5-rocm" (reasoning = false)
  PLUGIN router_replay {
    enabled: true
    max_records: 100000
    capture_request_body: true
    capture_response_body: false
    max_body_bytes: 4096
  }
}

ROUTE verified_business (description = "Business or economics with an evidence ask.") {
  PRIORITY 216
  TIER 9
  WHEN (domain("business") OR domain("economics") OR keyword("business_cues")) AND projection("verification_required")
  MODEL "google/gemini-2.5-flash-lite" (reasoning = false)
  PLUGIN router_replay {
    enabled: true
    max_records: 100000
    capture_request_body: true
    capture_response_body: false
    max_body_bytes: 4096
  }
}

ROUTE medium_business (description = "Business and economics analysis.") {
  PRIORITY 215
  TIER 10
  WHEN (domain("business") OR domain("economics") OR embedding("business_analysis")) AND NOT projection("verification_required")
  MODEL "qwen/qwen3.5-rocm" (reasoning = false)
  PLUGIN router_replay {
    enabled: true
    max_records: 100000
    capture_request_body: true
    capture_response_body: false
    max_body_bytes: 4096
  }
}

ROUTE verified_health (description = "Health questions that need evidence.") {
  PRIORITY 214
  TIER 11
  WHEN (domain("health") OR embedding("health_guidance")) AND projection("verification_required")
  MODEL "google/gemini-3.1-pro" (reasoning = true, effort = "high")
  PLUGIN router_replay {
    enabled: true
    max_records: 100000
    capture_request_body: true
    capture_response_body: false
    max_body_bytes: 4096
  }
}

ROUTE verified_history (description = "Source-sensitive history.") {
  PRIORITY 211
  TIER 12
  WHEN (domain("history") OR embedding("history_explainer")) AND projection("verification_required")
  MODEL "google/gemini-2.5-flash-lite" (reasoning = false)
  PLUGIN router_replay {
    enabled: true
    max_records: 100000
    capture_request_body: true
    capture_response_body: false
    max_body_bytes: 4096
  }
}

ROUTE medium_history (description = "History explanation and comparison.") {
  PRIORITY 210
  TIER 13
  WHEN (domain("history") OR embedding("history_explainer")) AND NOT projection("verification_required")
  MODEL "qwen/qwen3.5-rocm" (reasoning = false)
  PLUGIN router_replay {
    enabled: true
    max_records: 100000
    capture_request_body: true
    capture_response_body: false
    max_body_bytes: 4096
  }
}

ROUTE medium_psychology (description = "Psychology and behaviour.") {
  PRIORITY 205
  TIER 14
  WHEN (domain("psychology") OR embedding("psychology_support")) AND NOT (projection("emotion_negative") OR projection("emotion_positive") OR projection("urgency_elevated") OR projection("band_complex") OR projection("band_reasoning") OR user_feedback("need_clarification") OR keyword("clarification_cues"))
  MODEL "qwen/qwen3.5-rocm" (reasoning = false)
  PLUGIN router_replay {
    enabled: true
    max_records: 100000
    capture_request_body: true
    capture_response_body: false
    max_body_bytes: 4096
  }
}

ROUTE engaged_general (description = "Visible emotion or urgency on general topics.") {
  PRIORITY 202
  TIER 15
  WHEN (projection("emotion_negative") OR projection("emotion_positive") OR projection("urgency_elevated")) AND (domain("other") OR domain("psychology")) AND NOT projection("verification_required")
  MODEL "google/gemini-2.5-flash-lite" (reasoning = false)
  PLUGIN router_replay {
    enabled: true
    max_records: 100000
    capture_request_body: true
    capture_response_body: false
    max_body_bytes: 4096
  }
}

ROUTE medium_creative (description = "Creative writing and ideation.") {
  PRIORITY 200
  TIER 16
  WHEN (embedding("creative_writing") OR keyword("creative_cues") OR preference("creative_collaboration")) AND (projection("band_simple") OR projection("band_medium"))
  MODEL "google/gemini-2.5-flash-lite" (reasoning = false)
  PLUGIN router_replay {
    enabled: true
    max_records: 100000
    capture_request_body: true
    capture_response_body: false
    max_body_bytes: 4096
  }
}

ROUTE reasoning_general (description = "Deep multi-step analysis outside the specialist lanes.") {
  PRIORITY 190
  TIER 16
  WHEN (embedding("deep_reasoning") OR keyword("reasoning_cues") OR complexity("general_reasoning:hard")) AND (projection("band_complex") OR projection("band_reasoning")) AND NOT (keyword("code_cues") OR embedding("architecture_design"))
  MODEL "openai/gpt5.4" (reasoning = true, effort = "high")
  PLUGIN router_replay {
    enabled: true
    max_records: 100000
    capture_request_body: true
    capture_response_body: false
    max_body_bytes: 4096
  }
}

ROUTE feedback_need_clarification (description = "Cheap clarification follow-ups.") {
  PRIORITY 185
  TIER 17
  WHEN user_feedback("need_clarification") AND keyword("clarification_cues") AND (context("short_context") OR context("medium_context"))
  MODEL "qwen/qwen3.5-rocm" (reasoning = false)
  PLUGIN router_replay {
    enabled: true
    max_records: 100000
    capture_request_body: true
    capture_response_body: false
    max_body_bytes: 4096
  }
}

ROUTE verified_fast_qa_zh (description = "Short Chinese factual questions with a verification ask.") {
  PRIORITY 181
  TIER 18
  WHEN language("zh") AND context("short_context") AND (embedding("fast_qa_en") OR embedding("fast_qa_zh")) AND (keyword("verify_cues") OR fact_check("needs_fact_check"))
  MODEL "qwen/qwen3.5-rocm" (reasoning = false)
  PLUGIN router_replay {
    enabled: true
    max_records: 100000
    capture_request_body: true
    capture_response_body: false
    max_body_bytes: 4096
  }
}

ROUTE simple_fast_qa_zh (description = "Short Chinese factual questions.") {
  PRIORITY 180
  TIER 20
  WHEN language("zh") AND context("short_context") AND (embedding("fast_qa_en") OR embedding("fast_qa_zh")) AND NOT keyword("verify_cues")
  MODEL "qwen/qwen3.5-rocm" (reasoning = false)
  PLUGIN router_replay {
    enabled: true
    max_records: 100000
    capture_request_body: true
    capture_response_body: false
    max_body_bytes: 4096
  }
}

ROUTE verified_fast_qa_en (description = "Short English factual questions with a verification ask.") {
  PRIORITY 176
  TIER 21
  WHEN language("en") AND context("short_context") AND (embedding("fast_qa_en") OR embedding("fast_qa_zh")) AND (keyword("verify_cues") OR fact_check("needs_fact_check"))
  MODEL "qwen/qwen3.5-rocm" (reasoning = false)
  PLUGIN router_replay {
    enabled: true
    max_records: 100000
    capture_request_body: true
    capture_response_body: false
    max_body_bytes: 4096
  }
}

ROUTE simple_fast_qa_en (description = "Short English factual questions.") {
  PRIORITY 175
  TIER 22
  WHEN language("en") AND context("short_context") AND (embedding("fast_qa_en") OR embedding("fast_qa_zh")) AND NOT keyword("verify_cues")
  MODEL "qwen/qwen3.5-rocm" (reasoning = false)
  PLUGIN router_replay {
    enabled: true
    max_records: 100000
    capture_request_body: true
    capture_response_body: false
    max_body_bytes: 4096
  }
}

ROUTE simple_general (description = "Lowest-cost fallback for everything else that is short or simple.") {
  PRIORITY 170
  TIER 23
  WHEN context("short_context") OR projection("band_simple") OR projection("band_medium")
  MODEL "qwen/qwen3.5-rocm" (reasoning = false)
  PLUGIN router_replay {
    enabled: true
    max_records: 100000
    capture_request_body: true
    capture_response_body: false
    max_body_bytes: 4096
  }
}
