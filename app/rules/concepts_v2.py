"""What the patient reads in a rules-2 plan (CarePlan.activity.detail.description).

Plain English, Flesch-Kincaid grade 7 or below (tests/test_rules_v2_text.py checks every
text with textstat), written from the patient guide (§ sections) and rules-v2.md.
Choosing which text applies is a rule and lives in activities_v2.py; the safety net is
built from the findings table (findings_v2.py), never written apart from it.
"""

from __future__ import annotations

from app.rules.findings_v2 import FINDING_RULES_V2
from app.rules.model import Tier

ON_HOLD_REASON = "Start once your doctor clears you."
ASK_FIRST_REASON = "Ask a pharmacist or doctor first."

STOP_RULE = "Stop any exercise that makes pain spread further down your leg, and tell us."
DIRECTION_IS_A_SUGGESTION = "This is a suggestion from your answers, not an exam."

PATIENT_TEXT_V2: dict[str, str] = {
    "referral-emergency": (
        "Call 911 or go to the nearest emergency department now. Your answers include warning "
        "signs that need to be checked right away."
    ),
    "call-advice-line": (
        "Call the Appointment and Advice line now. Your answers include signs that a nurse or "
        "doctor should check today. If you cannot get through, go to urgent care or an emergency "
        "department today."
    ),
    "doctor-visit-soon": (
        "See your doctor within a few days. Book the visit now, and say it cannot wait. Talk "
        "about your answers before you start the home program."
    ),
    "doctor-visit-routine": (
        "Make a routine visit with your doctor. Talk about your answers before you start the home program."
    ),
    "doctor-visit-other-pain-relief": "Ask your doctor about other ways to ease the pain.",
    "doctor-visit-under-16": "Your doctor will tell you which pain medicine is safe for you.",
    "referral-physical-therapy": (
        "Ask for a visit with a physical therapist. They can build an exercise plan with you."
    ),
    "referral-psychologically-informed-pt": (
        "Ask for a visit with a physical therapist who also helps with the worry, low mood and "
        "stress that can come with back pain. Care for body and mind together helps people "
        "with answers like yours."
    ),
    "education-back-pain": (
        "Most back pain gets better within 6 weeks. Some aches can last longer, and that is "
        "normal. Back pain often comes back. Regular exercise is the best way to keep it away. "
        "Scans are rarely needed, and they cannot show pain. If you hear the word degenerative, "
        "it means normal change with age. It does not mean damage."
    ),
    "relative-rest": (
        "Keep moving and do your normal things as much as the pain allows. Slow down or change "
        "position when you need to, and take short breaks. Avoid bed rest. Days in bed slow "
        "healing."
    ),
    "analgesia-nsaid": (
        "You can try an anti-inflammatory medicine from the store, such as ibuprofen or "
        "naproxen. Take the lowest dose that helps, for the shortest time. Take it with food. "
        "Never take two anti-inflammatory medicines at the same time. Stop and get help if your "
        "poop turns black or your stomach hurts."
    ),
    "analgesia-nsaid-ask-first": (
        "Ask a pharmacist or doctor before you take an anti-inflammatory medicine such as "
        "ibuprofen or naproxen. They may not be safe for you. If they say yes, take the lowest "
        "dose that helps, for the shortest time, with food. Never take two of them at the same "
        "time. Stop and get help if your poop turns black or your stomach hurts."
    ),
    "analgesia-acetaminophen": ("Acetaminophen (Tylenol) is a pain medicine you can buy at the store."),
    "analgesia-acetaminophen-pregnancy": (
        "Because you are pregnant, ask a doctor or pharmacist before you take any pain medicine. "
        "Acetaminophen (Tylenol) is often the one they suggest."
    ),
    "analgesia-acetaminophen-caution": (
        "Anti-inflammatory medicines may not be safe for you. Ask a doctor or pharmacist before you "
        "take any pain medicine. Acetaminophen (Tylenol) is often the one they suggest."
    ),
    "acetaminophen-safety": (
        "Never take more in a day than the package says. Many cold and flu products have "
        "acetaminophen in them too, so check the labels. If you drink a lot of alcohol or have "
        "liver disease, ask a doctor first."
    ),
    "ice-heat": (
        "Try ice or heat for 15 to 20 minutes at a time to ease pain and stiffness. Some people "
        "like to switch between the two. Always put a cloth between your skin and the pack. Never "
        "use ice or heat on skin that feels numb."
    ),
    "aerobic-exercise": (
        "Walk, cycle or swim every day. Start with 10 minutes, once or twice a day. Add a few "
        "minutes each week until you reach 30 minutes on most days. Choose what does not make "
        "your pain worse. An exercise bike is often safe even early on."
    ),
    "directional-exercise-extension": (
        "Your answers suggest that bending forward or sitting makes your pain worse, or that "
        "leaning back helps. Lie on your stomach and push up on your elbows, or stand and gently "
        "lean back with your hands on your hips. Do 10 slow repeats, 3 to 5 times a day. Go a "
        "little further each day if the pain allows."
    ),
    "directional-exercise-flexion": (
        "Your answers suggest that standing, walking or leaning back makes your pain worse, or "
        "that bending forward helps. Lie on your back and gently pull both knees to your chest. "
        "Hold for a few seconds. Do 10 slow repeats, 3 to 5 times a day. Go a little further "
        "each day if the pain allows."
    ),
    "directional-exercise-neutral": (
        "Your answers do not point to one direction. Keep your back in a comfortable middle "
        "position. Lie on your back with your knees bent and gently rock your knees from side to "
        "side. Do 10 slow repeats, 2 or 3 times a day. Add a few more each week as the pain "
        "allows."
    ),
    "core-stabilization": (
        "Make the muscles around your middle strong. Lie on your back with your knees bent and "
        "pull your belly in for 10 seconds. Then lift your hips off the floor and hold for 5 "
        "seconds. Do 10 of each, once a day, and add a few more each week. Keep them up for "
        "life, like brushing your teeth."
    ),
    "pool-exercise": (
        "If exercise on land hurts too much, exercise in a pool. Start by walking in chest-deep "
        "water for 10 minutes. Add a few minutes each time, up to 30 minutes, 2 or 3 times a "
        "week."
    ),
    "resume-home-program": (
        "Start again the home exercises a physical therapist gave you. Begin with the ones that "
        "do not make your pain worse. Build back up to the full program over 1 to 2 weeks."
    ),
    "lifting-posture": (
        "Protect your back when you lift. Tighten your belly and buttock muscles first, bend at "
        "the knees, and carry things close to your body."
    ),
    "sleep-support": (
        "Poor sleep can make pain feel worse. Tell your care team that you wake often and do not "
        "feel rested, so they can help."
    ),
    "weight-management": (
        "Extra weight puts more load on your spine. Working towards a healthy weight, with "
        "regular exercise and healthy meals, helps your back heal. Your doctor can help you "
        "make a plan."
    ),
    "safety-net-6-weeks": "Contact us if you are not better in 6 weeks.",
}


def _signs(tier: Tier) -> str:
    return " ".join(rule.sign for rule in FINDING_RULES_V2 if rule.tier is tier and rule.sign)


# Generated from the findings table: every E sign, then every U sign.
SAFETY_NET_SIGNS = (
    "Call 911 or go to an emergency department now if any of these happen. "
    + _signs(Tier.E)
    + " Call us today if any of these happen. "
    + _signs(Tier.U)
)
