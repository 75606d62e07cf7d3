//! What the demo company is made of: its operators, clients' names, and the phrases of
//! its conversations in Russian and English.

pub struct Operator {
    pub login: &'static str,
    pub name: &'static str,
    pub department: usize,
    pub role: usize,
    pub locale: &'static str,
    /// Away (R46) since this many minutes before the demo starts.
    pub away_for_minutes: Option<i64>,
}

pub const OPERATORS: [Operator; 5] = [
    Operator {
        login: "anna",
        name: "Анна Петрова",
        department: 0,
        role: 0,
        locale: "ru",
        away_for_minutes: None,
    },
    Operator {
        login: "boris",
        name: "Борис Смирнов",
        department: 0,
        role: 0,
        locale: "ru",
        away_for_minutes: None,
    },
    Operator {
        login: "john",
        name: "John Carter",
        department: 0,
        role: 0,
        locale: "en",
        away_for_minutes: None,
    },
    Operator {
        login: "elena",
        name: "Елена Козлова",
        department: 1,
        role: 1,
        locale: "ru",
        away_for_minutes: None,
    },
    Operator {
        login: "dmitry",
        name: "Дмитрий Иванов",
        department: 1,
        role: 1,
        locale: "ru",
        away_for_minutes: Some(40),
    },
];

pub const FIRST_NAMES: [&str; 16] = [
    "Алексей",
    "Мария",
    "Сергей",
    "Ольга",
    "Николай",
    "Татьяна",
    "Игорь",
    "Наталья",
    "Павел",
    "Светлана",
    "Михаил",
    "Ирина",
    "Юлия",
    "Артём",
    "Ксения",
    "Виктор",
];
pub const LAST_NAMES: [&str; 12] = [
    "Соколов",
    "Кузнецов",
    "Попов",
    "Васильев",
    "Морозов",
    "Новиков",
    "Фёдоров",
    "Волков",
    "Лебедев",
    "Егоров",
    "Орлов",
    "Зайцев",
];
pub const ENGLISH_NAMES: [&str; 8] = [
    "Emily Watson",
    "James Miller",
    "Sophie Turner",
    "Daniel Brooks",
    "Olivia Reed",
    "Michael Grant",
    "Laura Stone",
    "Peter Hall",
];
pub const COMPANIES: [&str; 8] = [
    "ООО «Ромашка»",
    "АО «Северный ветер»",
    "ИП Сидоров",
    "ООО «ТехноСтрой»",
    "ООО «Вкусная еда»",
    "Bright Line Ltd",
    "ООО «Логистик Плюс»",
    "Harbor Trading LLC",
];

pub const SALES_RU: [(&str, &str); 8] = [
    (
        "Здравствуйте! Сколько стоит доставка в Казань?",
        "Добрый день! Доставка в Казань — 450 ₽, 2–3 дня.",
    ),
    (
        "Есть ли у вас скидки для оптовых покупателей?",
        "Да, от 50 единиц скидка 12%. Подготовить предложение?",
    ),
    (
        "Хочу заказать 20 коробок бумаги А4",
        "Отлично, оформляю счёт. Куда его отправить?",
    ),
    (
        "Можно оплатить по безналу?",
        "Конечно, выставим счёт на вашу организацию.",
    ),
    (
        "Подскажите, когда будет поступление?",
        "Ожидаем поставку в четверг, сразу сообщим.",
    ),
    (
        "А есть модель побольше?",
        "Есть, на 15 литров. Отправляю фото и характеристики.",
    ),
    (
        "Интересует установка под ключ",
        "Наш инженер может приехать на замер завтра с 10 до 14.",
    ),
    (
        "Спасибо, подумаю",
        "Хорошо! Если появятся вопросы — пишите, всегда на связи.",
    ),
];
pub const SUPPORT_RU: [(&str, &str); 8] = [
    (
        "Не приходит код подтверждения",
        "Проверьте, пожалуйста, папку «Спам». Отправили код повторно.",
    ),
    (
        "Заказ №4521 до сих пор не доставлен",
        "Приносим извинения! Заказ у курьера, доставка сегодня до 18:00.",
    ),
    (
        "Как вернуть товар?",
        "Оформите возврат в личном кабинете, курьер заберёт товар бесплатно.",
    ),
    (
        "Приложение вылетает при оплате",
        "Обновите приложение до версии 3.4 — ошибка исправлена.",
    ),
    (
        "Списали деньги дважды",
        "Вижу двойное списание, возврат придёт в течение 3 рабочих дней.",
    ),
    (
        "Где найти инструкцию?",
        "Инструкция в разделе «Документы», отправляю ссылку.",
    ),
    (
        "Можно поменять адрес доставки?",
        "Да, изменил адрес. Курьер получит его автоматически.",
    ),
    ("Всё получилось, спасибо!", "Рады помочь! Хорошего дня."),
];
pub const ENGLISH: [(&str, &str); 6] = [
    (
        "Hi! Do you ship to Riga?",
        "Hello! Yes, delivery to Riga takes 4–5 days.",
    ),
    (
        "I'd like a quote for 100 units",
        "Sure, I'll prepare it today. Which email should I use?",
    ),
    (
        "My order hasn't arrived yet",
        "Sorry about that! It's with the courier and arrives tomorrow.",
    ),
    ("Can I pay by card?", "Yes, we accept Visa and Mastercard."),
    (
        "Is there a warranty?",
        "Two years, and we replace faulty units for free.",
    ),
    ("Thanks, that's all", "You're welcome! Have a great day."),
];
pub const INTEREST_TITLES: [&str; 6] = [
    "Поставка бумаги на квартал",
    "Установка оборудования под ключ",
    "Оптовый заказ канцтоваров",
    "Годовое обслуживание",
    "Annual supply contract",
    "Пробная партия",
];
pub const EXTRA_CLOSE_REASONS: [&str; 3] = ["Дорого", "Выбрали конкурента", "Не целевое обращение"];
