"""The words behind every code: displays and definitions for the project's CodeSystems,
and the patient-facing text of each plan activity.

Patient text is written in plain words from the patient guide (sections noted with §).
Changing a sentence here never changes a decision; the tables in findings.py and
activities.py do that.
"""

from __future__ import annotations

# code -> (display, definition)
DISPOSITIONS: dict[str, tuple[str, str]] = {
    "emergency": (
        "Emergency: call 911 or go to the nearest emergency department now",
        "At least one emergency-tier finding (suspected cauda equina syndrome or progressive "
        "neurological loss). The patient should seek emergency care immediately.",
    ),
    "urgent": (
        "Urgent: call the Appointment and Advice line today",
        "At least one urgent-tier finding and no emergency-tier finding. The patient should call "
        "the Appointment and Advice line now, the same day.",
    ),
    "doctor-soon": (
        "See your doctor within a few days",
        "Rules 2: at least one doctor-soon-tier finding and no emergency- or urgent-tier finding. The "
        "patient should book a doctor visit now, to be seen within a few days (not a routine wait).",
    ),
    "doctor": (
        "See your doctor before starting the home program",
        "At least one doctor-tier finding and no emergency- or urgent-tier finding. The home "
        "program waits until a doctor has cleared the patient.",
    ),
    "self-care": (
        "Start the home self-care program",
        "No finding. The patient can start the home program for low back pain.",
    ),
}

FINDINGS: dict[str, tuple[str, str]] = {
    "ces-bladder-bowel": (
        "Loss of bladder or bowel control",
        "Possible cauda equina syndrome: the patient reports loss of control of bladder or bowels "
        "(rules 2: that started or got worse in the last 2 weeks).",
    ),
    "ces-saddle-numbness": (
        "Numbness in the genital or rectal area",
        "Possible cauda equina syndrome: the patient reports saddle numbness.",
    ),
    "ces-urinary-neuro": (
        "Urinary difficulty with leg weakness or numbness",
        "Possible cauda equina syndrome: difficulty starting or stopping urination together with "
        "weakness or loss of feeling in the legs.",
    ),
    "progressive-weakness": (
        "Worsening or two-sided leg weakness",
        "Progressive neurological deficit: leg weakness that is getting worse or affects both legs "
        "(rules 2: getting worse over hours or days; both legs is ces-bilateral-neuro).",
    ),
    "urinary-difficulty": (
        "Difficulty starting or stopping urination",
        "The patient reports difficulty starting or stopping urination.",
    ),
    "leg-weakness": (
        "Weakness in the legs",
        "The patient reports weakness in one or both legs.",
    ),
    "sensation-loss": (
        "Loss of feeling in the legs or feet",
        "The patient reports loss of sensation in the legs or feet.",
    ),
    "infection-risk": (
        "New or worse back pain with fever or recent infection",
        "Possible spinal infection: new or increased back pain with unexplained fever or a recent "
        "infection (rules 2 also: injecting drug use, or spinal surgery, injection or catheter in the last "
        "3 months).",
    ),
    "malignancy-immune-risk": (
        "New or worse back pain with cancer, immune problems or steroids",
        "Possible malignancy or infection: new or increased back pain with a history of cancer, "
        "immune system problems, or steroid (prednisone) use (rules 2: steroids for 3 months or more).",
    ),
    "intolerable-pain": (
        "Intolerable pain, not relieved by rest",
        "Pain that is intolerable or not relieved by rest or lying down.",
    ),
    "fracture-risk": (
        "Injury with a high risk of fracture",
        "Back pain after an injury in a patient aged 70 or over or taking steroids "
        "(fracture red flags, Downie 2013; rules 2 also osteoporosis, and only long-term steroids).",
    ),
    "leg-symptoms": (
        "Severe leg pain or tingling",
        "Severe pain, or tingling (pins and needles), in the legs or feet.",
    ),
    "systemic-symptoms": (
        "Fever, nausea or vomiting",
        "Unexplained fever or chills, nausea or vomiting.",
    ),
    "cancer-or-weight-loss": (
        "History of cancer or unexplained weight loss",
        "A history of cancer, or unexplained weight loss.",
    ),
    "immune-or-steroid": (
        "Immune problems or steroid use",
        "Immune system problems, or taking prednisone or another steroid (rules 2: for 3 months or "
        "more, not inhalers or creams): risk factors to review with a doctor.",
    ),
    "injury": (
        "Pain began after an injury",
        "The back pain began after a fall, accident or other injury.",
    ),
    "persistent-pain": (
        "Pain lasting 6 weeks or more",
        "This episode has lasted 6 weeks or more; most people get better within 6 weeks.",
    ),
    "otc-not-helping": (
        "Over-the-counter medicines not helping",
        "Over-the-counter anti-inflammatory medicines have not relieved the pain.",
    ),
    "under-18": (
        "Under 18",
        "The patient is younger than 18; the home program is written for adults.",
    ),
    # --- rules 2 (rules-v2.md); codes above keep their meaning, some fire on narrower answers in rules 2
    "ces-urinary": (
        "New difficulty passing urine",
        "Possible cauda equina syndrome: difficulty starting or stopping urination that started or got "
        "worse in the last 2 weeks (GIRFT).",
    ),
    "ces-sexual": (
        "New loss of sexual function or genital sensation",
        "Possible cauda equina syndrome: new loss of sexual function or of feeling in the genitals (GIRFT).",
    ),
    "ces-bilateral-neuro": (
        "Neurological symptoms in both legs",
        "Possible cauda equina syndrome: weakness in both legs, or pain, tingling or numbness in both legs "
        "with weakness or numbness (GIRFT, bilateral deficit).",
    ),
    "cancer-neuro": (
        "Cancer history with neurological symptoms",
        "Possible metastatic spinal cord compression: a history of cancer with leg weakness or numbness, "
        "saddle numbness, or bladder, bowel or urinary symptoms (NICE NG234).",
    ),
    "possible-sepsis": (
        "Fever and very unwell",
        "Possible sepsis or spinal infection: fever with feeling very unwell and shaking chills.",
    ),
    "major-trauma": (
        "Major trauma",
        "Back pain after a major accident: road crash, fall from a height or down stairs, or a high-speed "
        "sports collision (Downie: significant trauma).",
    ),
    "sphincter-long-standing": (
        "Bladder, bowel or urinary symptoms, not new",
        "Bladder or bowel control, or difficulty passing urine, reported as not new in the last 2 weeks: "
        "establish the same day whether it is new (GIRFT).",
    ),
    "bilateral-leg-symptoms": (
        "Leg symptoms in both legs",
        "Pain, tingling or numbness in both legs (GIRFT).",
    ),
    "unbearable-pain": (
        "Unbearable pain",
        "Pain that is more than the patient can bear, even with painkillers.",
    ),
    "abdominal-pain-older": (
        "Abdominal pain at 50 or over",
        "Abdominal pain with back pain at age 50 or over: consider aortic aneurysm and visceral causes.",
    ),
    "cancer-history": (
        "History of cancer",
        "A history of cancer (Downie: the informative malignancy red flag).",
    ),
    "weight-loss-over-60": (
        "Unexplained weight loss at 60 or over",
        "Back pain with unexplained weight loss at age 60 or over (NICE NG12: investigate within 2 weeks).",
    ),
    "rest-pain": (
        "Pain not eased by rest, or waking at night",
        "Pain not eased at all by rest or lying down, or that wakes the patient at night.",
    ),
    "weight-loss": (
        "Unexplained weight loss",
        "Unexplained weight loss.",
    ),
    "pregnancy": (
        "Pregnant",
        "The patient is pregnant or trying to get pregnant: pregnancy-related back pain needs its own assessment.",
    ),
    "older-first-episode": (
        "First episode at 50 or over",
        "Back pain at age 50 or over with no previous episodes (new pain in later life, CKS).",
    ),
    "thoracic-pain": (
        "Thoracic pain",
        "Pain in the upper or middle back as well (CKS red flag).",
    ),
    "abdominal-pain": (
        "Abdominal pain",
        "Pain in the abdomen as well as the back.",
    ),
    "inflammatory-back-pain": (
        "Possible inflammatory back pain",
        "Under 45 with back pain for more than 12 weeks and at least 4 inflammatory back pain features "
        "(NICE NG65: consider referral to rheumatology for spondyloarthritis).",
    ),
}

ACTIVITIES: dict[str, tuple[str, str]] = {
    "referral-emergency": ("Emergency care now", "Referral to emergency care, immediately."),
    "call-advice-line": (
        "Call the Appointment and Advice line today",
        "Contact with the Appointment and Advice line, the same day.",
    ),
    "doctor-visit": (
        "Doctor visit before the home program",
        "A routine appointment with the patient's doctor before the home program.",
    ),
    "referral-physical-therapy": (
        "Physical therapy referral",
        "Routine referral to physical therapy for persistent pain.",
    ),
    "relative-rest": ("Relative rest", "Normal activity as pain allows; no more than 3 days of bed rest."),
    "analgesia-nsaid": (
        "Over-the-counter anti-inflammatory",
        "Over-the-counter ibuprofen or naproxen, taken as the package directs.",
    ),
    "analgesia-acetaminophen": ("Acetaminophen", "Over-the-counter acetaminophen as an alternative pain reliever."),
    "ice-heat": ("Ice and heat", "Ice, heat, or the two alternated, for pain and stiffness."),
    "aerobic-exercise": ("Gentle aerobic exercise", "Walking, cycling or swimming that does not aggravate the pain."),
    "directional-exercise-extension": (
        "Extension exercises",
        "Exercises that favour extension, for flexion-sensitive pain.",
    ),
    "directional-exercise-flexion": (
        "Flexion exercises",
        "Exercises that favour flexion, for extension-sensitive pain.",
    ),
    "directional-exercise-neutral": (
        "Neutral-spine exercises",
        "Exercises in a neutral spine, when no direction is preferred.",
    ),
    "core-stabilization": (
        "Core stabilization exercises",
        "Core and lumbar stabilization exercises, as a lifelong habit.",
    ),
    "pool-exercise": ("Exercise in a pool", "Stabilization exercises and walking in a pool."),
    "resume-home-program": (
        "Restart your home exercise program",
        "Restart the home program a physical therapist gave before.",
    ),
    "lifting-posture": ("Good posture and lifting", "Bend the knees, brace, and carry loads close."),
    "sleep-support": ("Sleep support", "Discuss poor sleep with the care team."),
    "weight-management": ("Weight management", "Work towards a healthy weight (BMI 25 or over)."),
    "safety-net": ("When to get help", "The warning signs to act on, and a review if not better in 6 weeks."),
    # --- rules 2
    "referral-psychologically-informed-pt": (
        "Psychologically informed physical therapy referral",
        "Routine referral for physical and psychological treatment together (STarT Back high risk, NG59).",
    ),
    "education-back-pain": (
        "About back pain",
        "How back pain usually goes, why scans are rarely needed, and what 'degenerative' means.",
    ),
}

# Rules 2: the STarT Back risk group, a reason for a stratified referral.
STRATIFICATION: dict[str, tuple[str, str]] = {
    "startback-low-risk": ("STarT Back low risk", "STarT Back total score 3 or less."),
    "startback-medium-risk": (
        "STarT Back medium risk",
        "STarT Back total score 4 or more and distress subscale 3 or less.",
    ),
    "startback-high-risk": ("STarT Back high risk", "STarT Back distress subscale score 4 or more."),
}

PREFERENCES: dict[str, tuple[str, str]] = {
    "flexion-sensitive": (
        "Flexion-sensitive pain",
        "Bending, squatting or sitting make the pain worse and extension positions do not: exercises favour extension.",
    ),
    "extension-sensitive": (
        "Extension-sensitive pain",
        "Standing, walking, arching or lying face down make the pain worse and flexion positions do "
        "not: exercises favour flexion.",
    ),
    "no-preference": (
        "No directional preference",
        "Neither direction clearly makes the pain worse: exercises in a neutral spine.",
    ),
}

# The answer codes of the Questionnaire's choice items (their own CodeSystem).
ANSWERS: dict[str, tuple[str, str]] = {
    "lt-6w": ("Less than 6 weeks", "This episode of back pain has lasted less than 6 weeks."),
    "6-12w": ("6 to 12 weeks", "This episode of back pain has lasted 6 to 12 weeks."),
    "gt-12w": ("More than 12 weeks", "This episode of back pain has lasted more than 12 weeks."),
    "back-only": ("Only in my back", "The pain stays in the lower back."),
    "buttock-thigh": ("Into my buttock or thigh", "The pain travels into the buttock or thigh."),
    "below-knee": ("Below my knee", "The pain travels below the knee."),
    "worse": ("Makes it worse", "This position makes the pain worse."),
    "better": ("Makes it better", "This position makes the pain better."),
    "no-change": ("No change", "This position does not change the pain."),
    # Questionnaire 2.0.0: the STarT Back answer scales
    "agree": ("Agree", "The patient agrees with the statement."),
    "disagree": ("Disagree", "The patient disagrees with the statement."),
    "not-at-all": ("Not at all", "Not at all."),
    "slightly": ("Slightly", "Slightly."),
    "moderately": ("Moderately", "Moderately."),
    "very-much": ("Very much", "Very much."),
    "extremely": ("Extremely", "Extremely."),
}

ON_HOLD_REASON = "Start once your doctor clears you."

# What the patient reads for each activity (CarePlan.activity.detail.description).
PATIENT_TEXT: dict[str, str] = {
    "referral-emergency": (
        "Call 911 or go to the nearest emergency department now. Your answers include warning "
        "signs that need to be checked straight away."
    ),
    "call-advice-line": (
        "Call the Appointment and Advice line now, today. Your answers include signs that a "
        "clinician should hear about the same day."
    ),
    "doctor-visit": (
        "Make a routine appointment with your doctor and talk about your answers before you start the home program."
    ),
    "referral-physical-therapy": (
        "Your pain has lasted 6 weeks or more. Ask for a referral to a physical therapist, who "
        "can build an exercise plan with you."
    ),
    "relative-rest": (
        "Keep up your normal daily activities as much as the pain allows, slow down or change "
        "position when it tells you to, and take frequent breaks. Do not stay in bed for more "
        "than 3 days: long bed rest slows healing."
    ),
    "analgesia-nsaid": (
        "An over-the-counter anti-inflammatory such as ibuprofen or naproxen can ease pain and "
        "muscle spasm. Follow the dose on the package, and tell us if it does not help."
    ),
    "analgesia-acetaminophen": (
        "Acetaminophen (Tylenol) is another over-the-counter pain reliever you can use. Follow the dose on the package."
    ),
    "ice-heat": (
        "Try ice and try heat to see which eases your pain and stiffness; some people do best "
        "switching between the two."
    ),
    "aerobic-exercise": (
        "Walk, cycle or swim a little every day, choosing what does not make your pain worse. An "
        "exercise bike is usually safe even early on."
    ),
    "directional-exercise-extension": (
        "Your answers suggest that bending forward, squatting and sitting make your pain worse. "
        "Favour exercises that gently arch your back (extension)."
    ),
    "directional-exercise-flexion": (
        "Your answers suggest that standing, walking, arching your back or lying on your stomach "
        "make your pain worse. Favour exercises that gently round your back (flexion)."
    ),
    "directional-exercise-neutral": (
        "Your answers do not point to one direction that makes your pain worse. Exercise with "
        "your back in a comfortable neutral position."
    ),
    "core-stabilization": (
        "Do core stabilization exercises that strengthen the muscles around your trunk and low "
        "back. Keep them up for life, like brushing your teeth."
    ),
    "pool-exercise": (
        "If exercise on land is too painful, do your exercises in a pool. Walking in water is "
        "often the first exercise people can manage."
    ),
    "resume-home-program": (
        "Start again the home exercises a physical therapist gave you before. Begin with the ones "
        "that do not make your pain worse, then build back up to the full program."
    ),
    "lifting-posture": (
        "Protect your back when you lift: tighten your stomach and buttock muscles first, bend at "
        "the knees, and carry things close to your body."
    ),
    "sleep-support": (
        "Poor sleep can make pain feel worse. Tell your care team that you wake often and do not "
        "feel rested, so they can help."
    ),
    "weight-management": (
        "Extra weight puts more load on your spine. Working towards a healthy weight, with "
        "regular exercise, helps your back heal and protects it."
    ),
    "safety-net": (
        "Call 911 or go to the emergency department if you lose control of your bladder or "
        "bowels, or feel numb between your legs. Call the Appointment and Advice line straight "
        "away if you have trouble starting or stopping urination, new weakness or loss of feeling "
        "in your legs, fever with your back pain, or pain you cannot bear that rest does not "
        "ease. Contact us if you are not better in 6 weeks."
    ),
}

# Acetaminophen replaces NSAIDs for pregnant patients and those with a reason to avoid them.
ACETAMINOPHEN_WITH_CAUTION = (
    "Because you are pregnant or may not be able to take anti-inflammatory medicines, ask a "
    "doctor or pharmacist before taking any pain medicine. Acetaminophen (Tylenol) is often the "
    "one they suggest."
)

DIRECTIONAL_CAUTION = (
    "This exercise direction is a suggestion from what you told us, not an examination. Stop any "
    "exercise that makes pain spread further down your leg, and tell us about it."
)
